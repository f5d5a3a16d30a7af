"""Checks that stop a training run early, with a message naming the column and the fix."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from tabular_mlops.errors import DataError

MIN_ROWS_PER_CLASS = 5
MIN_ROWS = 20


@dataclass
class ValidationResult:
    """The cleaned frame plus what was changed or looks suspicious."""

    frame: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    dropped_rows: int = 0


def normalise_target(frame: pd.DataFrame, target: str, task: str) -> pd.DataFrame:
    """Classification targets become strings ('1', not '1.0'); regression targets floats."""
    frame = frame.copy()
    series = frame[target]
    if task == "regression":
        numeric = pd.to_numeric(series, errors="coerce")
        bad = series.notna() & numeric.isna()
        if bad.any():
            example = series[bad].iloc[0]
            raise DataError(
                f"Target column '{target}' is treated as regression but holds non-numeric "
                f"values such as {example!r}; set task: binary or multiclass in the dataset config."
            )
        frame[target] = numeric.astype("float64")
        return frame
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.dropna()
        if bool((values == values.round()).all()):
            frame[target] = series.map(lambda v: str(int(v)) if pd.notna(v) else None)
            return frame
    frame[target] = series.map(lambda v: str(v).strip() if pd.notna(v) else None)
    return frame


def require_target(columns: list[str] | pd.Index, target: str, source: str) -> None:
    """Fail with the list of real columns when the target is not among them."""
    if target not in columns:
        raise DataError(
            f"Target column '{target}' is not in '{source}'; columns are {list(columns)}. "
            "Pass the right name with --target."
        )


def validate_training_frame(frame: pd.DataFrame, target: str, task: str, source: str) -> ValidationResult:
    """Minimal checks on data used for training: target present, usable and not constant."""
    require_target(frame.columns, target, source)
    if frame.columns.duplicated().any():
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataError(f"'{source}' has duplicated column names {duplicated}; rename them.")
    features = [c for c in frame.columns if c != target]
    if not features:
        raise DataError(f"'{source}' has no feature columns besides the target '{target}'.")
    warnings: list[str] = []
    null_target = frame[target].isna()
    if null_target.all():
        raise DataError(f"Target column '{target}' in '{source}' is empty in every row.")
    dropped = int(null_target.sum())
    if dropped:
        warnings.append(f"Dropped {dropped} row(s) whose target '{target}' is missing.")
        frame = frame.loc[~null_target].reset_index(drop=True)
    if frame[target].nunique() < 2:
        value = frame[target].iloc[0]
        raise DataError(
            f"Target column '{target}' in '{source}' has the single value {value!r}: "
            "there is nothing to learn. Check the --target column."
        )
    if len(frame) < MIN_ROWS:
        raise DataError(f"'{source}' has only {len(frame)} usable rows; at least {MIN_ROWS} are needed.")
    if task != "regression":
        counts = frame[target].value_counts()
        rare = counts[counts < MIN_ROWS_PER_CLASS]
        if not rare.empty:
            raise DataError(
                f"Target column '{target}' in '{source}': class(es) {list(rare.index)} have fewer than "
                f"{MIN_ROWS_PER_CLASS} rows ({dict(rare)}), too few to split into train, validation "
                "and test. Merge or drop them."
            )
        if task == "binary" and counts.size != 2:
            raise DataError(
                f"Target column '{target}' in '{source}' has {counts.size} classes but the task is "
                "binary; set task: multiclass in the dataset config."
            )
    all_null = [c for c in features if frame[c].isna().all()]
    if all_null:
        warnings.append(f"Column(s) {all_null} are empty in every row and are ignored.")
        frame = frame.drop(columns=all_null)
    return ValidationResult(frame=frame, warnings=warnings, dropped_rows=dropped)
