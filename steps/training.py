"""Training step: fit the candidates, select on validation, refit. Never cached."""

from __future__ import annotations

from typing import Annotated, Any

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import log_metadata, step
from zenml.logger import get_logger
from zenml.types import MarkdownString

from tabular_mlops.config import training_config_from_dict
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.features.matrices import FeatureSet
from tabular_mlops.models.training import train_and_select
from tabular_mlops.reports import table_markdown

logger = get_logger(__name__)


@step(enable_cache=False, experiment_tracker=True)
def train_model(
    feature_set: FeatureSet, preprocessor: Pipeline, schema: DatasetSchema, training: dict[str, Any]
) -> tuple[
    Annotated[Pipeline, "model"],
    Annotated[str, "best_family"],
    Annotated[pd.DataFrame, "selection_table"],
    Annotated[MarkdownString, "selection_report"],
]:
    """Try every configured model family; the test split is not an input of this step."""
    config = training_config_from_dict(training)
    result = train_and_select(feature_set, preprocessor, schema, config)
    table = result.selection_table()
    mlflow.log_params(
        {
            "task": schema.task,
            "target": schema.target,
            "best_family": result.best_family,
            "selection_metric": result.selection_metric,
            "train_rows": int(feature_set.X_train.shape[0]),
            "validation_rows": int(feature_set.X_validation.shape[0]),
            "refit_rows": result.refit_rows,
            "model_inputs": feature_set.n_features,
            **{f"best_{k}": v for k, v in result.best.params.items()},
        }
    )
    for candidate in result.candidates:
        mlflow.log_metrics({f"val_{candidate.family}_{k}": v for k, v in candidate.validation_metrics.items()})
    mlflow.log_metrics({f"val_{k}": v for k, v in result.best.validation_metrics.items()})
    mlflow.log_text(table.to_csv(index=False), "selection_table.csv")
    logger.info("Selected %s on validation %s", result.best_family, result.selection_metric)
    log_metadata(
        metadata={
            "best_family": result.best_family,
            "selection_metric": result.selection_metric,
            "validation_metrics": result.best.validation_metrics,
        }
    )
    report = MarkdownString(table_markdown(f"Model selection on validation ({result.selection_metric})", table))
    return result.model, result.best_family, table, report
