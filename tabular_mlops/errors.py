"""Exceptions with messages written for the person who has to fix the input."""


class TabularMLOpsError(Exception):
    """Base class: the message names the file or column at fault and how to fix it."""


class ConfigError(TabularMLOpsError):
    """A YAML configuration file is missing, malformed or holds an unknown key."""


class DataError(TabularMLOpsError):
    """The input data cannot be used as it is (unreadable file, missing target, ...)."""


class ModelNotFoundError(TabularMLOpsError):
    """No registered model (version) matches what was asked for."""
