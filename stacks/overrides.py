"""A stack file's ``environment_overrides``: environment variables that replace some of its values.

Kept apart from ``stacks.registration`` (which imports ZenML) so that ``stacks.production_local``
can fill in a stack file without importing ZenML. ``zenml stack import`` ignores the key.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from tabular_mlops.errors import ConfigError

OVERRIDES_KEY = "environment_overrides"


def apply_environment_overrides(data: dict[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A copy of a stack file's content with its ``environment_overrides`` applied and removed.

    ``environment_overrides`` maps a variable name to the values it replaces, each written
    ``<component type>.<key>[.<key or list index>...]`` (the first component of that type), e.g.
    ``K8S_STACK_CONTEXT: [orchestrator.kubernetes_context, image_builder.kubernetes_context]``.
    A variable that is unset or empty leaves the file's value.
    """
    environ = os.environ if environ is None else environ
    result = copy.deepcopy(data)
    overrides = result.pop(OVERRIDES_KEY, None) or {}
    for variable, targets in overrides.items():
        value = environ.get(str(variable))
        if not value:
            continue
        for target in targets:
            try:
                set_value(result, str(target), value)
            except ConfigError as exc:
                raise ConfigError(f"{OVERRIDES_KEY}: {variable} {exc}") from exc
    return result


def set_value(data: dict[str, Any], target: str, value: Any) -> None:
    """Set ``<component type>.<key>[.<key or list index>...]`` of the first component of that type
    in a stack file's content (in place); ``ConfigError`` when the file has no such value."""
    component_type, *keys = target.split(".")
    try:
        node: Any = data["components"][component_type][0]["configuration"]
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(keys[-1])] = value
        elif keys[-1] in node:
            node[keys[-1]] = value
        else:
            raise KeyError(keys[-1])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"targets '{target}', which is not a value of a component's configuration in the stack file "
            f"({type(exc).__name__}: {exc})."
        ) from exc
