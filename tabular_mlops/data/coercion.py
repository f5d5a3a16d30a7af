"""Enforce a schema on raw text with pandera, and build the typed frame the model trains on.

pandera reports every value that does not parse as its column's type (with its row); the typed
frame then holds float64 for numeric columns, datetime64 for dates, 'true'/'false' for booleans
and strings for categories, with unparseable values turned into missing ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.data.schema import FALSE_TOKENS, TRUE_TOKENS, DatasetSchema, canonical_booleans

_BOOLEAN_TOKENS = TRUE_TOKENS | FALSE_TOKENS | {"0", "1", "0.0", "1.0"}
MAX_EXAMPLES = 5


@dataclass
class TypeProblem:
    """Values of one column that do not fit its declared type."""

    column: str
    expected: str
    count: int
    share: float
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "expected": self.expected,
            "count": self.count,
            "share": self.share,
            "examples": self.examples,
        }


def pandera_schema(schema: DatasetSchema, include_target: bool = True) -> Any:
    """The pandera schema (a ``pandera.DataFrameSchema``) of a raw (all-string) frame with these roles."""
    import pandera.pandas as pa

    columns: dict[str, Any] = {}
    for column in schema.columns:
        columns[column.name] = _pandera_column(column.role)
    if include_target:
        columns[schema.target] = _pandera_column("numeric" if schema.task == "regression" else "categorical")
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def _pandera_column(role: str) -> Any:
    import pandera.pandas as pa

    if role == "numeric":
        return pa.Column(
            float,
            nullable=True,
            coerce=True,
            checks=pa.Check(lambda s: s.isna() | np.isfinite(s), element_wise=False, name="finite"),
        )
    if role == "datetime":
        return pa.Column(
            str,
            nullable=True,
            checks=pa.Check(
                lambda s: pd.to_datetime(s, errors="coerce", format="mixed").notna() | s.isna(), name="parses_as_date"
            ),
        )
    if role == "boolean":
        return pa.Column(
            str,
            nullable=True,
            checks=pa.Check(lambda s: s.str.strip().str.lower().isin(_BOOLEAN_TOKENS) | s.isna(), name="is_boolean"),
        )
    return pa.Column(object, nullable=True)


def check_types(raw: pd.DataFrame, schema: DatasetSchema, include_target: bool = True) -> list[TypeProblem]:
    """Every column whose values do not all parse as its role says, with counts and examples."""
    present = [c for c in schema.columns if c.name in raw.columns]
    subset = DatasetSchema(
        target=schema.target, task=schema.task, columns=tuple(present), classes=schema.classes, n_rows=schema.n_rows
    )
    import pandera.errors

    validator = pandera_schema(subset, include_target=include_target and schema.target in raw.columns)
    try:
        # A shallow copy validated in place: pandera's coerced columns replace the copy's, not raw's.
        validator.validate(raw.copy(deep=False), lazy=True, inplace=True)
        return []
    except pandera.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    problems = []
    expected_by_column = {c.name: c.role for c in present}
    expected_by_column[schema.target] = "numeric" if schema.task == "regression" else "categorical"
    # Row-level failures only: a check that could not run on an uncoerced column has no index.
    failures = failures[failures["index"].notna()]
    for column, group in failures.groupby("column", sort=True):
        rows = group.drop_duplicates(subset=["index"])
        count = int(rows["index"].nunique())
        examples = [str(v) for v in pd.unique(rows["failure_case"].astype(str))[:MAX_EXAMPLES]]
        problems.append(
            TypeProblem(
                column=str(column),
                expected=expected_by_column.get(str(column), "?"),
                count=count,
                share=round(count / max(len(raw), 1), 6),
                examples=examples,
            )
        )
    return problems


def to_typed_frame(raw: pd.DataFrame, schema: DatasetSchema) -> pd.DataFrame:
    """Convert raw text to the types of the schema; values that do not parse become missing."""
    typed: dict[str, pd.Series] = {}
    roles = {c.name: c.role for c in schema.columns}
    for name in raw.columns:
        series = raw[name]
        role = roles.get(name)
        if name == schema.target:
            typed[name] = series
        elif role == "numeric":
            numbers = pd.to_numeric(series, errors="coerce").astype("float64")
            typed[name] = numbers.where(np.isfinite(numbers), np.nan)
        elif role == "datetime":
            typed[name] = pd.to_datetime(series, errors="coerce", format="mixed")
        elif role == "boolean":
            typed[name] = canonical_booleans(series)
        else:
            typed[name] = series.astype(object)
    return pd.DataFrame(typed, index=raw.index)
