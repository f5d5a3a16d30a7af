"""Batch inference steps: find the model, read and check the new rows, predict, write the predictions.

Never cached: which version is in production, and what the file holds, change between runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import mlflow
import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from stacks.registration import configure_mlflow_from_active_stack
from tabular_mlops.config import batch_validation_config_from_dict
from tabular_mlops.data.ingestion import file_sha256
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.monitoring.drift import PREDICTION_COLUMN
from tabular_mlops.registry.mlflow_registry import model_metadata, resolve_version
from tabular_mlops.serving.batch import (
    default_output_path,
    predict_outputs,
    read_batch,
    read_predictions,
    with_predictions,
    write_predictions,
)

logger = get_logger(__name__)


@step(enable_cache=False)
def resolve_model(model_name: str, model_version: str | None = None) -> Annotated[dict[str, Any], "model_ref"]:
    """The registered version to use (``model_version``, else production) and its training schema."""
    configure_mlflow_from_active_stack()
    registered = resolve_version(model_name, model_version)
    metadata = model_metadata(registered.registry_uri)
    logger.info("Using model %s version %s (%s)", registered.name, registered.version, registered.registry_uri)
    log_metadata(metadata={"model_name": registered.name, "model_version": registered.version})
    return {
        "name": registered.name,
        "version": registered.version,
        "model_uri": registered.registry_uri,
        "source": registered.model_uri,
        "run_id": registered.run_id,
        "schema": metadata["schema"],
    }


@step(enable_cache=False)
def load_batch(
    data_path: str, model_ref: dict[str, Any], validation: dict[str, Any]
) -> tuple[Annotated[pd.DataFrame, "rows"], Annotated[pd.DataFrame, "features"]]:
    """Read the CSV and check its feature columns against the model's training schema."""
    schema = DatasetSchema.from_dict(model_ref["schema"])
    batch = read_batch(data_path, schema, batch_validation_config_from_dict(validation))
    for warning in batch.warnings:
        logger.warning(warning)
    logger.info("Read %d rows x %d columns from %s", len(batch.rows), batch.rows.shape[1], data_path)
    log_metadata(
        metadata={"rows": len(batch.rows), "source": data_path, "sha256": file_sha256(data_path)},
    )
    return batch.rows, batch.features


@step(enable_cache=False)
def predict_batch(
    model_ref: dict[str, Any], rows: pd.DataFrame, features: pd.DataFrame, data_path: str, output_path: str | None
) -> tuple[Annotated[pd.DataFrame, "predictions"], Annotated[dict[str, Any], "prediction_summary"]]:
    """Predict every row; write the input rows plus ``prediction`` (and ``probability_<class>``)."""
    configure_mlflow_from_active_stack()
    schema = DatasetSchema.from_dict(model_ref["schema"])
    model = mlflow.sklearn.load_model(model_ref["model_uri"])
    predictions = predict_outputs(model, schema, features)
    target = Path(output_path) if output_path else default_output_path(data_path)
    written = write_predictions(with_predictions(rows, predictions), target).resolve()
    summary: dict[str, Any] = {"rows": len(predictions), "output_path": str(written)}
    if schema.task == "regression":
        summary["prediction_mean"] = float(predictions[PREDICTION_COLUMN].mean())
    else:
        summary["prediction_counts"] = {
            str(k): int(v) for k, v in predictions[PREDICTION_COLUMN].value_counts().items()
        }
    logger.info(
        "Predicted %d rows with %s v%s -> %s", len(predictions), model_ref["name"], model_ref["version"], written
    )
    log_metadata(metadata=summary)
    return predictions, summary


@step(enable_cache=False)
def existing_predictions(
    model_ref: dict[str, Any], rows: pd.DataFrame, data_path: str
) -> Annotated[pd.DataFrame, "predictions"]:
    """The model outputs a predictions file already holds (no re-prediction)."""
    predictions = read_predictions(rows, DatasetSchema.from_dict(model_ref["schema"]), data_path)
    log_metadata(metadata={"rows": len(predictions), "output_columns": list(predictions.columns)})
    return predictions
