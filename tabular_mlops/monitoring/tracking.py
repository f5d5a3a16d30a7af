"""Drift results as MLflow runs: one run per monitored batch in the experiment ``<model>-monitoring``."""

from __future__ import annotations

import math
import time

import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from tabular_mlops.monitoring.drift import DriftResult


def monitoring_experiment_name(model_name: str) -> str:
    return f"{model_name}-monitoring"


def log_drift_run(
    result: DriftResult,
    experiment_name: str,
    like_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> tuple[str, str]:
    """Record ``result`` as a finished MLflow run: the gate and per-column scores as metrics, the
    Evidently report (``drift/report.html``) and the numbers (``drift/result.json``) as artifacts.

    A new experiment keeps its artifacts where those of ``like_run_id``'s experiment (the model's
    training run) live. Returns the run id and the experiment id.
    """
    client = MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is not None:
        experiment_id = experiment.experiment_id
    else:
        location = None
        if like_run_id:
            location = client.get_experiment(client.get_run(like_run_id).info.experiment_id).artifact_location
        try:
            experiment_id = client.create_experiment(experiment_name, artifact_location=location)
        except mlflow.exceptions.MlflowException:
            existing = client.get_experiment_by_name(experiment_name)  # created meanwhile by another run
            if existing is None:
                raise
            experiment_id = existing.experiment_id
    run = client.create_run(
        experiment_id,
        run_name=f"drift-{result.model_name}-v{result.model_version}-{time.strftime('%Y%m%d-%H%M%S')}",
        tags={
            "model_name": result.model_name,
            "model_version": result.model_version,
            "drift_detected": str(result.drift_detected).lower(),
            "prediction_drift_detected": str(result.prediction_drift_detected).lower(),
            "drifted_columns": ", ".join(result.drifted_columns)[:4000],
            **(tags or {}),
        },
    )
    run_id = run.info.run_id
    now = int(result.timestamp * 1000)
    metrics = [Metric(k, float(v), now, 0) for k, v in result.metrics().items() if math.isfinite(v)]
    run_params = [Param(k, str(v)[:500]) for k, v in (params or {}).items()]
    for start in range(0, max(len(metrics), 1), 500):
        client.log_batch(run_id, metrics=metrics[start : start + 500], params=run_params if start == 0 else [])
    client.log_text(run_id, result.html, "drift/report.html")
    client.log_dict(run_id, result.to_dict(), "drift/result.json")
    client.set_terminated(run_id)
    return run_id, str(experiment_id)
