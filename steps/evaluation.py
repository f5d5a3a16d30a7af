"""Evaluation step: the only place the test split is used. Never cached."""

from __future__ import annotations

from typing import Annotated

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import log_metadata, step
from zenml.logger import get_logger

from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.evaluation.metrics import evaluate_estimator

logger = get_logger(__name__)


@step(enable_cache=False, experiment_tracker=True)
def evaluate_model(
    model: Pipeline, test: pd.DataFrame, schema: DatasetSchema
) -> Annotated[dict[str, float], "test_metrics"]:
    """Score the refitted model once on the held-out test split; log ``test_<metric>`` to MLflow."""
    metrics = evaluate_estimator(
        model, test[schema.feature_names], test[schema.target], schema.task, schema.positive_class
    )
    mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
    logger.info("Test metrics: %s", {k: round(v, 4) for k, v in metrics.items()})
    log_metadata(metadata={"test_metrics": metrics}, infer_model=True)
    return metrics
