"""Schema detection: each column's role, the task, and a typed frame built from the raw text.

The schema travels with the model (in the MLflow model's metadata), so serving and batch inference
check inputs against exactly what the model saw in training. Every inference here can be
overridden in the dataset's YAML config (``task``, ``positive_class``, ``columns: {name: role}``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.config import TASKS
from tabular_mlops.errors import DataError

# Roles that feed the model, and roles that are kept out of it (with a warning saying why).
FEATURE_ROLES = ("numeric", "categorical", "boolean", "datetime")
EXCLUDED_ROLES = ("identifier", "text", "constant", "ignore")
ROLES = FEATURE_ROLES + EXCLUDED_ROLES

MAX_CATEGORIES_LISTED = 200
NUMERIC_SHARE_FOR_MIXED = 0.9  # >= this share of numbers, but not all: a numeric column with bad values
DATETIME_SHARE = 0.95
IDENTIFIER_UNIQUE_SHARE = 0.98
TEXT_MIN_WORDS = 4.0
DETECTION_SAMPLE = 5000
TRUE_TOKENS = frozenset({"true", "t", "yes", "y"})
FALSE_TOKENS = frozenset({"false", "f", "no", "n"})
_ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|key|index|idx)$|^unnamed: ?\d+$", re.IGNORECASE)
_DATE_LIKE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_DATE_LIKE_US = re.compile(r"^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}([ T]\d{1,2}:\d{2}(:\d{2})?)?$")


@dataclass(frozen=True)
class ColumnSchema:
    """One input column: its role and what training saw of it."""

    name: str
    role: str
    missing_share: float = 0.0
    n_unique: int = 0
    categories: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    reason: str = ""
    overridden: bool = False

    @property
    def is_feature(self) -> bool:
        return self.role in FEATURE_ROLES


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
    def feature_columns(self) -> list[ColumnSchema]:
        return [c for c in self.columns if c.is_feature]

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.feature_columns]

    @property
    def excluded_columns(self) -> list[ColumnSchema]:
        return [c for c in self.columns if not c.is_feature]

    @property
    def numeric_features(self) -> list[str]:
        return [c.name for c in self.columns if c.role == "numeric"]

    @property
    def categorical_features(self) -> list[str]:
        return [c.name for c in self.columns if c.role in ("categorical", "boolean")]

    @property
    def datetime_features(self) -> list[str]:
        return [c.name for c in self.columns if c.role == "datetime"]

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
        columns = []
        for c in data["columns"]:
            values = dict(c)
            values["categories"] = tuple(values.get("categories") or ())
            columns.append(ColumnSchema(**values))
        return cls(
            target=data["target"],
            task=data["task"],
            columns=tuple(columns),
            classes=tuple(data.get("classes") or ()),
            positive_class=data.get("positive_class"),
            n_rows=int(data.get("n_rows", 0)),
            extra=dict(data.get("extra") or {}),
        )

    def fingerprint(self) -> str:
        """Short hash of target, task and feature names/roles: equal fingerprints, compatible inputs."""
        key = json.dumps([self.target, self.task, [(c.name, c.role) for c in self.feature_columns]], sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- task
def infer_task(target: pd.Series) -> str:
    """binary / multiclass for labels, regression for a continuous number."""
    values = target.dropna()
    n_unique = values.nunique()
    if n_unique == 2:
        return "binary"
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().all() and len(numbers):
        is_integer = bool((numbers == numbers.round()).all())
        if is_integer and n_unique <= 10:
            return "multiclass"
        return "regression"
    return "multiclass"


# --------------------------------------------------------------------------- roles
def detect_role(series: pd.Series, name: str) -> tuple[str, str]:
    """The role of one raw (string) column, and a short reason a person can check."""
    values = series.dropna()
    if values.empty:
        return "constant", "every value is missing"
    sample = values.sample(n=DETECTION_SAMPLE, random_state=0) if len(values) > DETECTION_SAMPLE else values
    n_unique_sample = sample.nunique()
    if values.nunique() <= 1:
        return "constant", f"a single value {values.iloc[0]!r}"
    text = sample.astype(str)
    numbers = pd.to_numeric(text, errors="coerce")
    numeric_share = float(numbers.notna().mean())
    lowered = set(text.str.lower().unique())
    if numeric_share < 1.0 and len(lowered) == 2 and lowered <= (TRUE_TOKENS | FALSE_TOKENS | {"0", "1"}):
        return "boolean", f"two values {sorted(lowered)}"
    unique_share = n_unique_sample / len(sample)
    if numeric_share >= NUMERIC_SHARE_FOR_MIXED:
        finite = numbers.dropna()
        integral = bool((finite == finite.round()).all())
        named_like_id = bool(_ID_NAME.search(name))
        if (
            integral
            and unique_share >= IDENTIFIER_UNIQUE_SHARE
            and len(values) >= 50
            and (named_like_id or _is_dense_range(values))
        ):
            return "identifier", "unique whole numbers" + (" named like an ID" if named_like_id else " counting up")
        if numeric_share < 1.0:
            return "numeric", f"{numeric_share:.1%} of values are numbers"
        return "numeric", "numbers"
    if _looks_like_dates(text):
        return "datetime", "values parse as dates"
    words = float(text.str.count(r"\s+").mean()) + 1.0
    if len(values) >= 50 and unique_share >= IDENTIFIER_UNIQUE_SHARE:
        if words < 1.5:
            return "identifier", f"{unique_share:.0%} of values are distinct codes"
        return "text", f"free text ({words:.1f} words per value, {unique_share:.0%} distinct)"
    if words >= TEXT_MIN_WORDS and n_unique_sample > 50:
        return "text", f"free text ({words:.1f} words per value)"
    return "categorical", f"{values.nunique()} distinct labels"


def _is_dense_range(values: pd.Series) -> bool:
    """Distinct whole numbers filling (almost) a whole range, like 1..n row numbers."""
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if numbers.empty or numbers.nunique() != len(numbers):
        return False
    span = float(numbers.max() - numbers.min() + 1)
    return span <= 1.05 * len(numbers)


def _looks_like_dates(text: pd.Series) -> bool:
    head = text.head(500)
    matches = head.str.match(_DATE_LIKE) | head.str.match(_DATE_LIKE_US)
    if matches.mean() < DATETIME_SHARE:
        return False
    parsed = pd.to_datetime(head, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= DATETIME_SHARE)


def detect_schema(
    raw: pd.DataFrame,
    target: str,
    task: str | None = None,
    positive_class: str | None = None,
    overrides: dict[str, str] | None = None,
) -> DatasetSchema:
    """Describe every column of a raw (all-string) frame; the target must be present."""
    if target not in raw.columns:
        raise DataError(f"Target column '{target}' is not in the data; columns are {list(raw.columns)}.")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(raw.columns))
    if unknown:
        raise DataError(
            f"The dataset config sets roles for column(s) {unknown} that are not in the data; "
            f"columns are {list(raw.columns)}."
        )
    bad_roles = {k: v for k, v in overrides.items() if v not in ROLES}
    if bad_roles:
        raise DataError(f"Unknown role(s) {bad_roles} in the dataset config; roles are {list(ROLES)}.")
    task = task or infer_task(raw[target])
    if task not in TASKS:
        raise DataError(f"Unknown task '{task}'; use one of {list(TASKS)}.")
    columns = []
    for name in raw.columns:
        if name == target:
            continue
        series = raw[name]
        if name in overrides:
            role, reason, overridden = overrides[name], "set in the dataset config", True
        else:
            role, reason = detect_role(series, name)
            overridden = False
        columns.append(_describe(series, name, role, reason, overridden))
    classes: tuple[str, ...] = ()
    if task != "regression":
        classes = tuple(sorted(raw[target].dropna().astype(str).unique()))
        if positive_class is None and task == "binary" and classes:
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
        n_rows=len(raw),
    )


def _describe(series: pd.Series, name: str, role: str, reason: str, overridden: bool) -> ColumnSchema:
    missing = float(series.isna().mean())
    values = series.dropna()
    minimum = maximum = None
    categories: tuple[str, ...] = ()
    if role == "numeric":
        numbers = pd.to_numeric(values, errors="coerce").dropna()
        finite = numbers[np.isfinite(numbers)]
        if len(finite):
            minimum, maximum = float(finite.min()), float(finite.max())
    elif role in ("categorical", "boolean"):
        labels = values.astype(str) if role == "categorical" else canonical_booleans(values).dropna()
        counts = labels.value_counts()
        categories = tuple(sorted(counts.index[:MAX_CATEGORIES_LISTED]))
    return ColumnSchema(
        name=str(name),
        role=role,
        missing_share=round(missing, 6),
        n_unique=int(values.nunique()),
        categories=categories,
        minimum=minimum,
        maximum=maximum,
        reason=reason,
        overridden=overridden,
    )


def canonical_booleans(values: pd.Series) -> pd.Series:
    """'Yes', 'y', 'TRUE', 1, True -> 'true'; their opposites -> 'false'; anything else -> missing."""

    def convert(value: Any) -> str | None:
        text = str(value).strip().lower()
        if text in TRUE_TOKENS or text in {"1", "1.0"}:
            return "true"
        if text in FALSE_TOKENS or text in {"0", "0.0"}:
            return "false"
        return None

    return values.map(convert, na_action="ignore").astype(object)


def _guess_positive_class(classes: tuple[str, ...]) -> str:
    """The conventional 'positive' label if there is one, else the last in sorted order."""
    preferred = ("1", "1.0", "yes", "true", "bad", "positive", ">50k", "churn")
    for label in classes:
        if label.lower() in preferred:
            return label
    return classes[-1]


def infer_schema(
    frame: pd.DataFrame, target: str, task: str | None = None, positive_class: str | None = None
) -> DatasetSchema:
    """Schema of an already typed frame (tests, notebooks): numbers stay numeric, the rest text."""
    raw = frame.copy()
    for name in raw.columns:
        if pd.api.types.is_numeric_dtype(raw[name]) and not pd.api.types.is_bool_dtype(raw[name]):
            continue
        raw[name] = raw[name].astype(object).where(raw[name].notna(), None)
    return detect_schema(raw, target, task=task, positive_class=positive_class)
