"""Training step: Optuna search over the model families, selection on CV/validation, refit. Never cached."""

from __future__ import annotations

import os
import tempfile
from typing import Annotated, Any

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger
from zenml.types import HTMLString

from tabular_mlops.config import evaluation_config_from_dict, training_config_from_dict
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.evaluation.tuning_report import optuna_figures, tuning_html
from tabular_mlops.features.matrices import FeatureSet
from tabular_mlops.models.training import train_and_select
from tabular_mlops.registry.mlflow_tracking import MlflowTrialLogger

logger = get_logger(__name__)


@step(enable_cache=False, experiment_tracker=True)
def train_model(
    feature_set: FeatureSet,
    preprocessor: Pipeline,
    schema: DatasetSchema,
    training: dict[str, Any],
    evaluation: dict[str, Any],
) -> tuple[
    Annotated[Pipeline, "model"],
    Annotated[dict[str, Any], "training_summary"],
    Annotated[pd.DataFrame, "selection_table"],
    Annotated[HTMLString, "tuning_report"],
]:
    """Search every configured family within the budget; the test split is not an input here."""
    config = training_config_from_dict(training)
    run = mlflow.active_run()
    callbacks: tuple[MlflowTrialLogger, ...] = ()
    if run is not None:
        callbacks = (MlflowTrialLogger(run.info.run_id, run.info.experiment_id, mlflow.get_tracking_uri()),)
    study_name = config.hpo.study_name or f"{get_step_context().pipeline_run.name}"
    result = train_and_select(
        feature_set,
        preprocessor,
        schema,
        config,
        callbacks=callbacks,
        study_name=study_name,
        evaluation=evaluation_config_from_dict(evaluation),
    )
    table = result.selection_table()
    tuning = result.tuning
    mlflow.log_params(
        {
            "task": schema.task,
            "target": schema.target,
            "best_family": result.best_family,
            "selection_metric": result.selection_metric,
            "evaluation": result.evaluation,
            "train_rows": int(feature_set.X_train.shape[0]),
            "validation_rows": int(feature_set.X_validation.shape[0]),
            "refit_rows": result.refit_rows,
            "model_inputs": feature_set.n_features,
            "hpo_timeout_s": config.hpo.timeout_s,
            "hpo_trials": len(tuning.trials) if tuning else 0,
            "model_threads": config.model_threads,
            "parallel_trials": config.hpo.parallel_trials,
            "final_model": result.final_model,
            "decision_threshold": result.threshold if result.threshold is not None else "none",
            **{f"best_{k}": str(v)[:250] for k, v in result.best.params.items()},
        }
    )
    for candidate in result.candidates:
        mlflow.log_metrics({f"cv_{candidate.family}_{k}": v for k, v in candidate.validation_metrics.items()})
    mlflow.log_metrics({f"cv_{k}": v for k, v in result.best.validation_metrics.items()})
    mlflow.log_metrics({f"cv_std_{k}": v for k, v in result.best.metrics_std.items()})
    mlflow.log_text(table.to_csv(index=False), "selection/selection_table.csv")
    figures = optuna_figures(tuning.study) if tuning else {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in figures.items():
            path = os.path.join(tmp, name)
            with open(path, "wb") as handle:
                handle.write(data)
            mlflow.log_artifact(path, "selection")
    report = tuning_html(result, figures)
    mlflow.log_text(report, "selection/tuning_report.html")
    logger.info("Selected %s on %s %s", result.best_family, result.evaluation, result.selection_metric)
    log_metadata(
        metadata={
            "best_family": result.best_family,
            "selection_metric": result.selection_metric,
            "evaluation": result.evaluation,
            "cv_metrics": result.best.validation_metrics,
            "trials": len(tuning.trials) if tuning else 0,
        }
    )
    summary = {**result.summary(), "split": config.split.__dict__}
    return result.model, summary, table, HTMLString(report)
