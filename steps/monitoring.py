"""Drift monitoring step: new data and predictions against the model's training rows (Evidently).

The report is an HTML artifact (shown in the dashboard) and an MLflow run in the experiment
``<model>-monitoring``; the numbers are ZenML metadata, MLflow metrics and a Prometheus textfile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import mlflow
import pandas as pd
from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger
from zenml.types import HTMLString

from stacks.registration import configure_mlflow_from_active_stack
from tabular_mlops.config import monitoring_config_from_dict
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.monitoring.drift import compute_drift, sample_rows, write_prometheus_textfile
from tabular_mlops.monitoring.tracking import log_drift_run, monitoring_experiment_name
from tabular_mlops.registry.mlflow_registry import RegisteredModel, load_reference_sample
from tabular_mlops.serving.batch import predict_outputs

logger = get_logger(__name__)


@step(enable_cache=False)
def monitor_drift(
    model_ref: dict[str, Any],
    features: pd.DataFrame,
    predictions: pd.DataFrame,
    monitoring: dict[str, Any],
    data_path: str,
) -> tuple[Annotated[HTMLString, "drift_report"], Annotated[dict[str, Any], "drift_summary"]]:
    """Data drift, prediction drift and the drift gate of one batch."""
    configure_mlflow_from_active_stack()
    config = monitoring_config_from_dict(monitoring)
    schema = DatasetSchema.from_dict(model_ref["schema"])
    name, version = str(model_ref["name"]), str(model_ref["version"])
    registered = RegisteredModel(name=name, version=version, model_uri=model_ref["source"], run_id=model_ref["run_id"])
    reference = sample_rows(load_reference_sample(registered), config.reference_max_rows, config.seed)
    model = mlflow.sklearn.load_model(model_ref["model_uri"])
    result = compute_drift(
        reference,
        features,
        schema,
        config,
        reference_predictions=predict_outputs(model, schema, reference),
        current_predictions=predictions,
        model_name=name,
        model_version=version,
    )
    context = get_step_context()
    run_id, experiment_id = log_drift_run(
        result,
        monitoring_experiment_name(name),
        like_run_id=registered.run_id,
        tags={"zenml_pipeline_run_id": str(context.pipeline_run.id), "source": data_path},
        params={"source": data_path, "drift_share_threshold": str(config.drift_share_threshold)},
    )
    textfile = config.textfile_path(name)
    written = str(write_prometheus_textfile(result, textfile, name).resolve()) if textfile else None
    (logger.warning if result.drift_detected else logger.info)(result.summary())
    summary = {
        **{k: v for k, v in result.to_dict().items() if k not in ("columns", "predictions")},
        "drift_scores": {c.column: c.score for c in [*result.columns, *result.predictions]},
        "fail_on_drift": config.fail_on_drift,
        "mlflow_run_id": run_id,
        "mlflow_experiment_id": experiment_id,
        "mlflow_experiment": monitoring_experiment_name(name),
        "prometheus_textfile": written,
    }
    log_metadata(
        metadata={
            "drift_share": result.drift_share,
            "drift_detected": result.drift_detected,
            "drifted_columns": result.drifted_columns,
            "prediction_drift_detected": result.prediction_drift_detected,
            "prediction_drift_score": result.prediction_drift_score or 0.0,
            "drift_gate": result.gate(),
            "drift_scores": {k: round(v, 6) for k, v in summary["drift_scores"].items() if v == v},
            "mlflow_monitoring_run_id": run_id,
            "data_source": str(Path(data_path)),
        }
    )
    return HTMLString(result.html), summary
