"""Batch inference: read a CSV of new rows, check it against the model's training schema, predict.

The file is read like training data (``tabular_mlops.data.ingestion``: compression, encoding,
delimiter, missing-value tokens) and its feature columns are type-checked with the same pandera
rules (``tabular_mlops.data.coercion``). Extra columns, the target among them, are allowed and
passed through to the output next to ``prediction`` and, for classifiers, ``probability_<class>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.config import BatchValidationConfig
from tabular_mlops.data.coercion import check_types, to_typed_frame
from tabular_mlops.data.ingestion import read_csv_text
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.errors import DataError
from tabular_mlops.monitoring.drift import PREDICTION_COLUMN, PROBABILITY_PREFIX

_COMPRESSION_SUFFIXES = {".gz", ".bz2", ".xz", ".lzma", ".zip"}
_TABLE_SUFFIXES = {".csv", ".tsv", ".txt"}


@dataclass
class BatchInput:
    """The rows as read (text, every column) and the model's features typed as in training."""

    rows: pd.DataFrame
    features: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def read_batch(path: str | Path, schema: DatasetSchema, config: BatchValidationConfig | None = None) -> BatchInput:
    """Read ``path`` and check it against ``schema``.

    Raises :class:`DataError` naming the file for: an unreadable or empty file, feature columns the
    model needs that are missing (all of them named), and a column with more values that do not parse
    as its training type than ``config.max_type_error_share`` (the column, the count and examples).
    Fewer bad values become missing (and are imputed as in training), with a warning.
    """
    config = config or BatchValidationConfig()
    rows, _ = read_csv_text(path)
    missing = [name for name in schema.feature_names if name not in rows.columns]
    if missing:
        raise DataError(
            f"File '{path}' lacks the feature column(s) {missing} that the model was trained on; add them "
            f"(empty values are allowed: they are imputed as in training). The model's features are "
            f"{schema.feature_names}; the file's columns are {list(rows.columns)}."
        )
    feature_schema = DatasetSchema(
        target=schema.target, task=schema.task, columns=tuple(schema.feature_columns), classes=schema.classes
    )
    raw = rows[schema.feature_names]
    warnings = []
    for problem in check_types(raw, feature_schema, include_target=False):
        described = (
            f"column '{problem.column}' of '{path}' has {problem.count} value(s) ({problem.share:.1%}) that are "
            f"not {_article(problem.expected)}, e.g. {problem.examples}"
        )
        if problem.share > config.max_type_error_share:
            raise DataError(
                f"The {described}: the model was trained on {problem.expected} values in this column. Fix or "
                f"blank those values (at most {config.max_type_error_share:.1%} of them are turned into missing "
                "values; raise validation.max_type_error_share in configs/batch_inference.yaml to allow more)."
            )
        warnings.append(f"The {described}; they are treated as missing values.")
    return BatchInput(rows=rows, features=to_typed_frame(raw, feature_schema), warnings=warnings)


def _article(role: str) -> str:
    return {"numeric": "numbers", "datetime": "dates", "boolean": "booleans"}.get(role, f"{role} values")


def predict_outputs(model: Any, schema: DatasetSchema, features: pd.DataFrame) -> pd.DataFrame:
    """``prediction`` (the label, or the value for regression) and ``probability_<class>`` per class."""
    predictions = model.predict(features[schema.feature_names])
    if schema.task == "regression":
        return pd.DataFrame({PREDICTION_COLUMN: np.asarray(predictions, dtype="float64")}, index=features.index)
    out = pd.DataFrame({PREDICTION_COLUMN: [str(p) for p in predictions]}, index=features.index)
    if hasattr(model, "predict_proba"):
        probabilities = np.asarray(model.predict_proba(features[schema.feature_names]), dtype="float64")
        for i, label in enumerate(model.classes_):
            out[f"{PROBABILITY_PREFIX}{label}"] = probabilities[:, i]
    return out


def output_columns(frame: pd.DataFrame) -> list[str]:
    """The model-output columns of a frame: ``prediction`` and ``probability_*``."""
    return [c for c in frame.columns if c == PREDICTION_COLUMN or str(c).startswith(PROBABILITY_PREFIX)]


def read_predictions(rows: pd.DataFrame, schema: DatasetSchema, path: str | Path) -> pd.DataFrame:
    """The model outputs already in a predictions file (``python run.py predict`` writes them), typed."""
    if PREDICTION_COLUMN not in rows.columns:
        raise DataError(
            f"File '{path}' has no '{PREDICTION_COLUMN}' column, so prediction drift cannot be measured; "
            "monitor a file written by `python run.py predict`, or run `python run.py predict --data` on this one."
        )
    out = pd.DataFrame(index=rows.index)
    for column in output_columns(rows):
        if column == PREDICTION_COLUMN and schema.task != "regression":
            out[column] = rows[column]
            continue
        numbers = pd.to_numeric(rows[column], errors="coerce")
        bad = rows[column].notna() & numbers.isna()
        if bad.any():
            examples = list(pd.unique(rows.loc[bad, column]))[:5]
            raise DataError(
                f"Column '{column}' of '{path}' holds {int(bad.sum())} value(s) that are not numbers, e.g. "
                f"{examples}; model outputs must be numbers there (regression predictions, class probabilities)."
            )
        out[column] = numbers.astype("float64")
    return out


def with_predictions(rows: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """The input rows followed by the model outputs (outputs already in the input are replaced)."""
    return pd.concat([rows.drop(columns=output_columns(rows)), predictions], axis=1)


def default_output_path(data_path: str | Path) -> Path:
    """``new.csv`` (or ``new.csv.gz``) -> ``new.predictions.csv`` in the same folder."""
    path = Path(data_path)
    name = path.name
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        name = name[: -len(suffixes.pop())]
    if suffixes and suffixes[-1] in _TABLE_SUFFIXES:
        name = name[: -len(suffixes[-1])]
    return path.with_name(f"{name}.predictions.csv")


def write_predictions(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write the rows with their predictions as CSV (folders created as needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path
