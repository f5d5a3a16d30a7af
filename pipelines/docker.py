"""The image the Kubernetes stack builds for the pipelines' pods: configs/docker.yaml as ZenML DockerSettings.

One file for every pipeline (a run configuration cannot include another); the local stack ignores it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from zenml.config import DockerSettings
from zenml.config.base_settings import BaseSettings

from tabular_mlops.errors import ConfigError

DOCKER_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "docker.yaml"


def docker_settings(path: Path = DOCKER_CONFIG) -> DockerSettings:
    """``path`` parsed by ZenML's own model; an unknown or misspelt key is an error (ZenML would ignore it)."""
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = sorted(set(values) - set(DockerSettings.model_fields))
    if unknown:
        raise ConfigError(
            f"{path}: unknown DockerSettings keys {unknown}; see zenml.config.DockerSettings for the valid ones."
        )
    return DockerSettings.model_validate(values)


SETTINGS: dict[str, dict[str, Any] | BaseSettings] = {"docker": docker_settings()}
