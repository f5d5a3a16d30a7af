"""Explanation step: SHAP values of the final model on a bounded sample of training rows."""

from __future__ import annotations

import base64
import html
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
from tabular_mlops.evaluation.explain import explain, shap_pngs

logger = get_logger(__name__)


@step(enable_cache=False, experiment_tracker=True)
def explain_model(
    model: Pipeline, train: pd.DataFrame, schema: DatasetSchema, evaluation: dict[str, Any]
) -> tuple[Annotated[HTMLString, "shap_report"], Annotated[dict[str, Any], "explanation"]]:
    """Beeswarm and mean-|SHAP| plots in readable feature names, within the configured time budget."""
    config = evaluation_config_from_dict(evaluation)
    explanation = explain(
        model,
        train,
        schema,
        max_rows=config.shap_rows,
        background_rows=config.shap_background_rows,
        time_budget_s=config.shap_time_budget_s,
        seed=config.seed,
    )
    images = shap_pngs(explanation)
    for name, data in images.items():
        mlflow.log_image(Image.open(io.BytesIO(data)), f"explanation/{name}")
    top = explanation.top_features(15)
    mlflow.log_dict(
        {"output": explanation.output, "method": explanation.method, "mean_abs_shap": dict(top)},
        "explanation/top_features.json",
    )
    logger.info(
        "SHAP (%s) on %d rows in %.1f s; top: %s",
        explanation.method,
        len(explanation.values),
        explanation.seconds,
        ", ".join(name for name, _ in top[:5]),
    )
    log_metadata(
        metadata={
            "shap_method": explanation.method,
            "shap_rows": len(explanation.values),
            "shap_seconds": round(explanation.seconds, 2),
            "top_features": dict(top[:10]),
        }
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>SHAP</title><style>body{font-family:sans-serif;"
        "margin:16px} img{max-width:760px}</style></head><body>"
        f"<h1>SHAP explanation</h1><p>{html.escape(explanation.method)} explainer on {len(explanation.values)} "
        f"training rows; values add up to the {html.escape(explanation.output)}.</p>"
        + "".join(
            f"<h2>{html.escape(name.removesuffix('.png').replace('_', ' '))}</h2>"
            f"<img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
            for name, data in images.items()
        )
        + "</body></html>"
    )
    summary = {
        "method": explanation.method,
        "output": explanation.output,
        "rows": len(explanation.values),
        "seconds": round(explanation.seconds, 2),
        "top_features": [[name, value] for name, value in top],
    }
    return HTMLString(page), summary
