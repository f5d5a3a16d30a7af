"""Evaluation step: the only place the test split is used. Never cached."""

from __future__ import annotations

import io
from typing import Annotated, Any

import mlflow
import pandas as pd
from PIL import Image
from sklearn.pipeline import Pipeline
from zenml import log_metadata, step
from zenml.logger import get_logger
from zenml.types import HTMLString

from tabular_mlops.config import evaluation_config_from_dict
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.evaluation.report import evaluate_on_test

logger = get_logger(__name__)


@step(enable_cache=False, experiment_tracker=True)
def evaluate_model(
    model: Pipeline, test: pd.DataFrame, schema: DatasetSchema, evaluation: dict[str, Any]
) -> tuple[
    Annotated[dict[str, float], "test_metrics"],
    Annotated[dict[str, list[float]], "metric_intervals"],
    Annotated[HTMLString, "evaluation_report"],
]:
    """Score the final model once on the held-out test split: metrics with bootstrap intervals,
    confusion matrix, ROC / PR / calibration curves or residual plots, permutation importance."""
    result = evaluate_on_test(model, test, schema, evaluation_config_from_dict(evaluation))
    mlflow.log_metrics({f"test_{k}": v for k, v in result.metrics.items()})
    for name, (low, high) in result.intervals.items():
        mlflow.log_metrics({f"test_{name}_ci_low": low, f"test_{name}_ci_high": high})
    for name, data in result.images.items():
        mlflow.log_image(Image.open(io.BytesIO(data)), f"evaluation/{name}")
    if result.confusion:
        mlflow.log_dict({"classes": result.classes, "matrix": result.confusion}, "evaluation/confusion_matrix.json")
    page = result.html()
    mlflow.log_text(page, "evaluation/report.html")
    logger.info("Test metrics: %s", {k: round(v, 4) for k, v in result.metrics.items()})
    log_metadata(metadata={"test_metrics": result.metrics}, infer_model=True)
    return result.metrics, {k: [low, high] for k, (low, high) in result.intervals.items()}, HTMLString(page)
