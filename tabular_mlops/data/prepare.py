"""From a dataset config to a validated, typed frame and its schema: the data steps' library calls."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tabular_mlops.config import DatasetConfig, ValidationConfig
from tabular_mlops.data.coercion import check_types, to_typed_frame
from tabular_mlops.data.ingestion import IngestionReport, read_csv_text
from tabular_mlops.data.schema import DatasetSchema, detect_schema, infer_task
from tabular_mlops.data.validation import ValidationReport, normalise_target, require_target, validate_frame
from tabular_mlops.errors import DataError


@dataclass
class PreparedData:
    """A typed frame (rows without a target dropped), its schema and the validation report."""

    frame: pd.DataFrame
    schema: DatasetSchema
    report: ValidationReport


def read_dataset(config: DatasetConfig, nrows: int | None = None) -> tuple[pd.DataFrame, IngestionReport]:
    """Read the dataset's CSV as text, drop the configured columns."""
    raw, report = read_csv_text(
        config.path,
        delimiter=config.delimiter,
        encoding=config.encoding,
        na_values=config.na_values,
        use_default_na=config.use_default_na,
        nrows=nrows,
    )
    missing = [c for c in config.drop_columns if c not in raw.columns]
    if missing:
        raise DataError(
            f"drop_columns {missing} of dataset '{config.name}' are not columns of '{config.path}'; "
            f"columns are {list(raw.columns)}."
        )
    raw = raw.drop(columns=list(config.drop_columns))
    report.columns = raw.shape[1]
    return raw, report


def prepare(
    raw: pd.DataFrame, config: DatasetConfig, validation: ValidationConfig, ingestion: dict[str, object] | None = None
) -> PreparedData:
    """Detect the schema (with the config's overrides), enforce types, run every data check."""
    require_target(raw.columns, config.target, config.path)
    task = config.task or infer_task(raw[config.target])
    raw = normalise_target(raw, config.target, task)
    schema = detect_schema(
        raw, config.target, task=task, positive_class=config.positive_class, overrides=config.columns
    )
    problems = check_types(raw, schema)
    typed = to_typed_frame(raw, schema)
    frame, report = validate_frame(typed, schema, config.path, validation, problems, ingestion)
    return PreparedData(frame=frame, schema=schema, report=report)


def load_typed(path: str, target: str, na_values: tuple[str, ...] = (), task: str | None = None) -> PreparedData:
    """Read and prepare any CSV with default settings (notebooks, tests, benchmarks)."""
    config = DatasetConfig.for_csv(path, target)
    config = DatasetConfig.from_dict({**config.to_dict(), "na_values": list(na_values), "task": task})
    raw, ingestion = read_dataset(config)
    return prepare(raw, config, ValidationConfig(), ingestion.to_dict())
