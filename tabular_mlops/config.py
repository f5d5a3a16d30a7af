"""Typed views of the YAML files under ``configs/``.

Two kinds of file exist:

* ``configs/datasets/<name>.yaml`` describes one dataset (where the CSV lives, the target, how
  missing values are written, what to call the model) and is read by :func:`load_dataset_config`.
* ``configs/<pipeline>.yaml`` are ZenML run configurations (``parameters:``, ``settings:``,
  ``steps:``); their ``parameters`` are turned into typed objects by :func:`training_config_from_dict`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from tabular_mlops.errors import ConfigError

TASKS = ("binary", "multiclass", "regression")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file '{path}' does not exist.")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file '{path}' is not valid YAML: {exc}") from exc
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"Config file '{path}' must hold a mapping at its top level.")
    return content


def _check_keys(cls: type, data: dict[str, Any], where: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed keys are {sorted(known)}.")


def slugify(text: str) -> str:
    """Turn a file stem or column name into a registry-friendly model name."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()
    return slug or "model"


@dataclass(frozen=True)
class DatasetConfig:
    """Where a dataset lives and how to read it."""

    name: str
    path: str
    target: str
    model_name: str
    task: str | None = None
    positive_class: str | None = None
    na_values: tuple[str, ...] = ()
    drop_columns: tuple[str, ...] = ()
    description: str = ""
    source: str = ""
    licence: str = ""

    def __post_init__(self) -> None:
        if self.task is not None and self.task not in TASKS:
            raise ConfigError(
                f"Dataset '{self.name}': task must be one of {list(TASKS)} or left out "
                f"to be inferred, got '{self.task}'."
            )
        if not self.target:
            raise ConfigError(f"Dataset '{self.name}': 'target' must name a column.")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["na_values"] = list(self.na_values)
        data["drop_columns"] = list(self.drop_columns)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "dataset config") -> DatasetConfig:
        _check_keys(cls, data, where)
        missing = [k for k in ("name", "path", "target") if not data.get(k)]
        if missing:
            raise ConfigError(f"{where}: missing required key(s) {missing}.")
        values = dict(data)
        values.setdefault("model_name", slugify(f"{values['name']}-{values['target']}"))
        values["na_values"] = tuple(str(v) for v in values.get("na_values") or ())
        values["drop_columns"] = tuple(str(v) for v in values.get("drop_columns") or ())
        if values.get("positive_class") is not None:
            values["positive_class"] = str(values["positive_class"])
        return cls(**values)

    @classmethod
    def for_csv(cls, path: str | Path, target: str, model_name: str | None = None) -> DatasetConfig:
        """A config for an arbitrary CSV given on the command line."""
        stem = Path(path).name.split(".")[0]
        return cls(
            name=stem,
            path=str(path),
            target=target,
            model_name=model_name or slugify(f"{stem}-{target}"),
        )


def load_dataset_config(path: str | Path, project_root: str | Path | None = None) -> DatasetConfig:
    """Load ``configs/datasets/<name>.yaml``; a relative ``path`` is relative to the project root."""
    data = read_yaml(path)
    config = DatasetConfig.from_dict(data, where=f"Config file '{path}'")
    data_path = Path(config.path)
    if not data_path.is_absolute() and project_root is not None:
        data_path = Path(project_root) / data_path
        config = DatasetConfig.from_dict({**config.to_dict(), "path": str(data_path)}, where=f"Config file '{path}'")
    return config


@dataclass(frozen=True)
class SplitConfig:
    """Train/validation/test ratios and the seed that makes the split repeatable."""

    test_size: float = 0.15
    validation_size: float = 0.15
    seed: int = 42

    def __post_init__(self) -> None:
        for name in ("test_size", "validation_size"):
            value = getattr(self, name)
            if not 0.0 < value < 0.5:
                raise ConfigError(f"split.{name} must lie strictly between 0 and 0.5, got {value}.")


@dataclass(frozen=True)
class CandidateConfig:
    """One model family to try, with its fixed hyper-parameters."""

    family: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingConfig:
    """The ``parameters`` of ``configs/training.yaml``."""

    split: SplitConfig = field(default_factory=SplitConfig)
    candidates: tuple[CandidateConfig, ...] = (
        CandidateConfig("logistic_regression"),
        CandidateConfig("lightgbm"),
    )
    selection_metric: str = "auto"
    n_jobs: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": asdict(self.split),
            "candidates": [asdict(c) for c in self.candidates],
            "selection_metric": self.selection_metric,
            "n_jobs": self.n_jobs,
        }


def training_config_from_dict(data: dict[str, Any] | None) -> TrainingConfig:
    """Build a :class:`TrainingConfig` from the ``parameters`` mapping of a pipeline YAML."""
    data = dict(data or {})
    _check_keys(TrainingConfig, data, "training parameters")
    split_data = data.pop("split", None) or {}
    _check_keys(SplitConfig, split_data, "training parameters 'split'")
    candidates_data = data.pop("candidates", None)
    candidates: tuple[CandidateConfig, ...]
    if candidates_data is None:
        candidates = TrainingConfig().candidates
    else:
        if not isinstance(candidates_data, list) or not candidates_data:
            raise ConfigError("training parameters 'candidates' must be a non-empty list.")
        items = []
        for i, item in enumerate(candidates_data):
            if isinstance(item, str):
                item = {"family": item}
            _check_keys(CandidateConfig, item, f"training parameters 'candidates[{i}]'")
            items.append(CandidateConfig(family=item["family"], params=dict(item.get("params") or {})))
        candidates = tuple(items)
    return TrainingConfig(split=SplitConfig(**split_data), candidates=candidates, **data)
