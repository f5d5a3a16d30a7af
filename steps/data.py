"""Data steps: load, validate, split. Cached: their cache key includes the file's content hash."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

import materializers  # noqa: F401  (registers the schema materializer)
from tabular_mlops.config import DatasetConfig, SplitConfig
from tabular_mlops.data.loading import load_csv
from tabular_mlops.data.schema import DatasetSchema, infer_schema, infer_task
from tabular_mlops.data.splitting import split_frame
from tabular_mlops.data.validation import normalise_target, require_target, validate_training_frame

logger = get_logger(__name__)


@step
def load_dataset(dataset: dict[str, Any], data_hash: str) -> Annotated[pd.DataFrame, "raw_data"]:
    """Read the CSV named in the dataset config. ``data_hash`` only keys the cache."""
    config = DatasetConfig.from_dict(dataset)
    frame = load_csv(config.path, na_values=config.na_values, drop_columns=config.drop_columns)
    logger.info("Loaded %d rows x %d columns from %s", len(frame), frame.shape[1], config.path)
    log_metadata(metadata={"rows": len(frame), "columns": frame.shape[1], "source": config.path, "sha256": data_hash})
    return frame


@step
def validate_dataset(
    raw_data: pd.DataFrame, dataset: dict[str, Any]
) -> tuple[Annotated[pd.DataFrame, "clean_data"], Annotated[DatasetSchema, "schema"]]:
    """Check the target, normalise its labels, and infer the schema the model will be trained on."""
    config = DatasetConfig.from_dict(dataset)
    require_target(raw_data.columns, config.target, config.path)
    task = config.task or infer_task(raw_data[config.target])
    frame = normalise_target(raw_data, config.target, task)
    result = validate_training_frame(frame, config.target, task, config.path)
    for warning in result.warnings:
        logger.warning(warning)
    schema = infer_schema(result.frame, config.target, task=task, positive_class=config.positive_class)
    log_metadata(
        metadata={
            "task": schema.task,
            "dropped_rows": result.dropped_rows,
            "warnings": result.warnings,
            "schema_fingerprint": schema.fingerprint(),
        }
    )
    return result.frame, schema


@step
def split_dataset(
    clean_data: pd.DataFrame, schema: DatasetSchema, split: dict[str, Any]
) -> tuple[
    Annotated[pd.DataFrame, "train"],
    Annotated[pd.DataFrame, "validation"],
    Annotated[pd.DataFrame, "test"],
]:
    """Stratified (for classification) train / validation / test split with a fixed seed."""
    splits = split_frame(clean_data, schema.target, schema.task, SplitConfig(**split))
    logger.info("Split sizes: %s", splits.sizes())
    log_metadata(metadata={"split_sizes": splits.sizes()})
    return splits.train, splits.validation, splits.test
