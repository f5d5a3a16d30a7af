"""MLflow logging that works from any thread or worker process: one nested run per Optuna trial."""

from __future__ import annotations

import math
from typing import Any

import optuna
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial


class MlflowTrialLogger:
    """An Optuna callback that records each finished trial as a child of the training run.

    It uses ``MlflowClient`` with explicit run ids instead of MLflow's (thread-local) active run,
    so it is safe with parallel trials and picklable for worker processes.
    """

    def __init__(self, parent_run_id: str, experiment_id: str, tracking_uri: str | None = None) -> None:
        self.parent_run_id = parent_run_id
        self.experiment_id = experiment_id
        self.tracking_uri = tracking_uri

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        client = MlflowClient(tracking_uri=self.tracking_uri)
        family = str(trial.user_attrs.get("family", trial.params.get("family", "unknown")))
        run = client.create_run(
            self.experiment_id,
            run_name=f"trial-{trial.number:03d}-{family}",
            tags={
                "mlflow.parentRunId": self.parent_run_id,
                "optuna_study": study.study_name,
                "optuna_trial": str(trial.number),
                "trial_state": trial.state.name.lower(),
                "family": family,
            },
        )
        params = [Param(k, str(v)[:500]) for k, v in (trial.user_attrs.get("model_params") or {}).items()]
        metrics = []
        for prefix, values in (
            ("cv_", trial.user_attrs.get("metrics_mean") or {}),
            ("cv_std_", trial.user_attrs.get("metrics_std") or {}),
        ):
            metrics += [Metric(prefix + k, float(v), 0, 0) for k, v in values.items() if math.isfinite(float(v))]
        if trial.value is not None:
            metrics.append(Metric("objective", float(trial.value), 0, 0))
        for step, value in trial.intermediate_values.items():
            metrics.append(Metric("fold_running_score", float(value), 0, int(step)))
        if trial.user_attrs.get("fit_seconds") is not None:
            metrics.append(Metric("fit_seconds", float(trial.user_attrs["fit_seconds"]), 0, 0))
        client.log_batch(
            run.info.run_id,
            metrics=metrics,
            params=params,
            tags=[RunTag("worker", str(trial.user_attrs.get("worker", "")))],
        )
        status = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}.get(trial.state.name, "FINISHED")
        client.set_terminated(run.info.run_id, status=status)

    def to_config(self) -> dict[str, Any]:
        return {
            "parent_run_id": self.parent_run_id,
            "experiment_id": self.experiment_id,
            "tracking_uri": self.tracking_uri,
        }
