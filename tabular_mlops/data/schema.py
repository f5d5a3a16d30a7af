"""The schema a model was trained on: feature names, their kinds, the target and the task.

It travels with the model (in the MLflow model's metadata) so that serving and batch inference
check inputs against exactly what the model saw in training.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from tabular_mlops.config import TASKS
from tabular_mlops.errors import DataError

MAX_CATEGORIES_LISTED = 50


@dataclass(frozen=True)
class ColumnSchema:
    """One feature column."""

    name: str
    kind: str  # "numeric" or "categorical"
    dtype: str
    missing_share: float = 0.0
    categories: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class DatasetSchema:
    """What the model expects as input and predicts as output."""

    target: str
    task: str
    columns: tuple[ColumnSchema, ...]
    classes: tuple[str, ...] = ()
    positive_class: str | None = None
    n_rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def numeric_features(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "numeric"]

    @property
    def categorical_features(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "categorical"]

    def column(self, name: str) -> ColumnSchema:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["columns"] = [asdict(c) | {"categories": list(c.categories)} for c in self.columns]
        data["classes"] = list(self.classes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetSchema:
        columns = tuple(ColumnSchema(**{**c, "categories": tuple(c.get("categories") or ())}) for c in data["columns"])
        return cls(
            target=data["target"],
            task=data["task"],
            columns=columns,
            classes=tuple(data.get("classes") or ()),
            positive_class=data.get("positive_class"),
            n_rows=int(data.get("n_rows", 0)),
            extra=dict(data.get("extra") or {}),
        )

    def fingerprint(self) -> str:
        """Short hash of names, kinds and task: equal fingerprints mean compatible inputs."""
        key = json.dumps([self.target, self.task, [(c.name, c.kind) for c in self.columns]], sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def infer_task(target: pd.Series) -> str:
    """binary / multiclass for labels, regression for a continuous number."""
    values = target.dropna()
    n_unique = values.nunique()
    if n_unique == 2:
        return "binary"
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        is_integer = bool((values == values.round()).all())
        if is_integer and n_unique <= 10:
            return "multiclass"
        return "regression"
    return "multiclass"


def infer_schema(
    frame: pd.DataFrame,
    target: str,
    task: str | None = None,
    positive_class: str | None = None,
) -> DatasetSchema:
    """Describe the columns of ``frame``; the target must be present."""
    if target not in frame.columns:
        raise DataError(f"Target column '{target}' is not in the data; columns are {list(frame.columns)}.")
    task = task or infer_task(frame[target])
    if task not in TASKS:
        raise DataError(f"Unknown task '{task}'; use one of {list(TASKS)}.")
    columns = []
    for name in frame.columns:
        if name == target:
            continue
        series = frame[name]
        missing = float(series.isna().mean())
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            columns.append(
                ColumnSchema(
                    name=str(name),
                    kind="numeric",
                    dtype=str(series.dtype),
                    missing_share=round(missing, 6),
                    minimum=_finite_or_none(series.min()),
                    maximum=_finite_or_none(series.max()),
                )
            )
        else:
            counts = series.dropna().astype(str).value_counts()
            categories = tuple(counts.index[:MAX_CATEGORIES_LISTED])
            columns.append(
                ColumnSchema(
                    name=str(name),
                    kind="categorical",
                    dtype=str(series.dtype),
                    missing_share=round(missing, 6),
                    categories=tuple(sorted(categories)),
                )
            )
    classes: tuple[str, ...] = ()
    if task != "regression":
        classes = tuple(sorted(frame[target].dropna().astype(str).unique()))
        if positive_class is None and task == "binary":
            positive_class = _guess_positive_class(classes)
        if positive_class is not None and positive_class not in classes:
            raise DataError(
                f"positive_class '{positive_class}' is not a value of target '{target}'; values are {list(classes)}."
            )
    return DatasetSchema(
        target=target,
        task=task,
        columns=tuple(columns),
        classes=classes,
        positive_class=positive_class if task == "binary" else None,
        n_rows=len(frame),
    )


def _guess_positive_class(classes: tuple[str, ...]) -> str:
    """The conventional 'positive' label if there is one, else the last in sorted order."""
    preferred = ("1", "1.0", "yes", "true", "bad", "positive", ">50k")
    for label in classes:
        if label.lower() in preferred:
            return label
    return classes[-1]


def _finite_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if pd.notna(number) and abs(number) != float("inf") else None
