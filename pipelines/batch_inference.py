"""New rows -> checked against the model's schema -> predictions -> drift against the training rows."""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from pipelines.docker import SETTINGS
from steps import existing_predictions, load_batch, monitor_drift, predict_batch, resolve_model


@pipeline(enable_cache=False, settings=SETTINGS)
def batch_inference_pipeline(
    data_path: str,
    model_name: str,
    model_version: str | None = None,
    output_path: str | None = None,
    validation: dict[str, Any] | None = None,
    monitoring: dict[str, Any] | None = None,
) -> None:
    """Predict a CSV with a registered model (production unless ``model_version``), then monitor drift."""
    model_ref = resolve_model(model_name=model_name, model_version=model_version)
    rows, features = load_batch(data_path=data_path, model_ref=model_ref, validation=validation or {})
    predictions, _ = predict_batch(
        model_ref=model_ref, rows=rows, features=features, data_path=data_path, output_path=output_path
    )
    monitor_drift(
        model_ref=model_ref,
        features=features,
        predictions=predictions,
        monitoring=monitoring or {},
        data_path=data_path,
    )


@pipeline(enable_cache=False, settings=SETTINGS)
def drift_monitoring_pipeline(
    data_path: str,
    model_name: str,
    model_version: str | None = None,
    validation: dict[str, Any] | None = None,
    monitoring: dict[str, Any] | None = None,
) -> None:
    """Drift of an existing predictions file (written by the batch pipeline): no re-prediction."""
    model_ref = resolve_model(model_name=model_name, model_version=model_version)
    rows, features = load_batch(data_path=data_path, model_ref=model_ref, validation=validation or {})
    predictions = existing_predictions(model_ref=model_ref, rows=rows, data_path=data_path)
    monitor_drift(
        model_ref=model_ref,
        features=features,
        predictions=predictions,
        monitoring=monitoring or {},
        data_path=data_path,
    )
