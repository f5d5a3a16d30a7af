"""Registration step: log the whole pipeline to MLflow, register it, link the ZenML model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger

from tabular_mlops.config import DatasetConfig
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.registry.mlflow_registry import log_model, log_reference_sample
from tabular_mlops.registry.mlflow_registry import register_model as register_in_mlflow

logger = get_logger(__name__)


@step(enable_cache=False, experiment_tracker=True)
def register_model(
    model: Pipeline,
    train: pd.DataFrame,
    schema: DatasetSchema,
    training_summary: dict[str, Any],
    test_metrics: dict[str, float],
    dataset: dict[str, Any],
    data_hash: str,
    reference_rows: int = 20000,
) -> Annotated[dict[str, Any], "registration"]:
    """Log model + signature + input example to the MLflow run and register a new version; log a
    sample of ``reference_rows`` training rows with it, the reference of drift monitoring."""
    config = DatasetConfig.from_dict(dataset)
    best_family = str(training_summary["family"])
    context = get_step_context()
    run = mlflow.active_run()
    zenml_model = context.model
    lineage = {
        "zenml_pipeline_run_id": str(context.pipeline_run.id),
        "zenml_pipeline_run_name": context.pipeline_run.name,
        "zenml_model_name": zenml_model.name,
        "zenml_model_version": str(zenml_model.number),
        "data_sha256": data_hash,
        "schema_fingerprint": schema.fingerprint(),
        "family": best_family,
        "dataset": config.name,
    }
    info = log_model(
        model,
        train[schema.feature_names],
        schema,
        metadata={
            **lineage,
            "registered_model_name": config.model_name,
            "test_metrics": test_metrics,
            "decision_threshold": training_summary.get("threshold"),
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    logged_rows = log_reference_sample(train, schema, max_rows=reference_rows)
    logger.info("Logged %d training rows as the drift monitoring reference", logged_rows)
    registered = register_in_mlflow(
        info.model_uri,
        config.model_name,
        tags={**lineage, "stage": "none", **{f"test_{k}": f"{v:.6f}" for k, v in test_metrics.items()}},
        description=f"{best_family} on {config.name}, target '{schema.target}' ({schema.task}).",
    )
    mlflow.set_tags({"registered_model_name": registered.name, "registered_model_version": registered.version})
    logger.info("Registered MLflow model %s version %s (%s)", registered.name, registered.version, info.model_uri)
    registration = {
        "model_name": registered.name,
        "model_version": registered.version,
        "model_uri": registered.registry_uri,
        "logged_model_uri": info.model_uri,
        "mlflow_run_id": run.info.run_id if run else None,
        "mlflow_experiment_id": run.info.experiment_id if run else None,
        "zenml_model_version": str(zenml_model.number),
        "family": best_family,
        "task": schema.task,
        "test_metrics": test_metrics,
    }
    log_metadata(
        metadata={
            "mlflow_registered_model": registered.name,
            "mlflow_model_version": registered.version,
            "mlflow_model_uri": registered.registry_uri,
            "mlflow_run_id": registration["mlflow_run_id"] or "",
        },
        infer_model=True,
    )
    return registration
