"""Data steps: load, validate, gate, split, fit features.

Loading, validation, splitting and feature fitting are cached: the cache key includes the CSV's
content hash (``data_hash``), so editing the file runs them again. The quality gate is never
cached, so every run logs the data checks to its MLflow run and stops on errors.
"""

from __future__ import annotations

from typing import Annotated, Any

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline
from zenml import log_metadata, step
from zenml.logger import get_logger
from zenml.types import MarkdownString

import materializers  # noqa: F401  (registers the project's materializers)
from tabular_mlops.config import DatasetConfig, SplitConfig, feature_config_from_dict, validation_config_from_dict
from tabular_mlops.data.prepare import prepare, read_dataset
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.data.splitting import shared_rows_report, split_frame
from tabular_mlops.data.validation import ValidationReport
from tabular_mlops.errors import DataError
from tabular_mlops.features.matrices import FeatureSet, fit_feature_set
from tabular_mlops.features.preprocessing import build_preprocessor, column_groups
from tabular_mlops.reports import schema_markdown, validation_html

logger = get_logger(__name__)


@step
def load_dataset(
    dataset: dict[str, Any], data_hash: str
) -> tuple[Annotated[pd.DataFrame, "raw_data"], Annotated[dict[str, Any], "ingestion_report"]]:
    """Read the CSV named in the dataset config as text. ``data_hash`` keys the cache."""
    config = DatasetConfig.from_dict(dataset)
    raw, report = read_dataset(config)
    report.sha256 = data_hash
    for warning in report.warnings:
        logger.warning(warning)
    logger.info(
        "Read %d rows x %d columns from %s (encoding %s, delimiter %r)",
        report.rows,
        report.columns,
        config.path,
        report.encoding,
        report.delimiter,
    )
    log_metadata(metadata={"rows": report.rows, "columns": report.columns, "source": config.path, "sha256": data_hash})
    return raw, report.to_dict()


@step
def validate_dataset(
    raw_data: pd.DataFrame, ingestion_report: dict[str, Any], dataset: dict[str, Any], validation: dict[str, Any]
) -> tuple[
    Annotated[pd.DataFrame, "clean_data"],
    Annotated[DatasetSchema, "schema"],
    Annotated[ValidationReport, "validation_report"],
]:
    """Detect the schema, enforce types, run the data checks; errors are raised by the gate."""
    config = DatasetConfig.from_dict(dataset)
    prepared = prepare(raw_data, config, validation_config_from_dict(validation, config.validation), ingestion_report)
    report = prepared.report
    for finding in report.findings:
        if finding.severity != "info":
            logger.warning("%s: %s", finding.severity, finding.message)
    logger.info(
        "Schema: task %s, %d features, %d excluded; validation %s",
        prepared.schema.task,
        len(prepared.schema.feature_columns),
        len(prepared.schema.excluded_columns),
        "passed" if report.passed else f"found {len(report.errors)} error(s)",
    )
    return prepared.frame, prepared.schema, report


@step(enable_cache=False, experiment_tracker=True)
def data_quality_gate(validation_report: ValidationReport, schema: DatasetSchema) -> Annotated[bool, "data_passed"]:
    """Log the data checks to MLflow and ZenML; stop the run when any check failed."""
    metrics = {f"data_{k}": v for k, v in validation_report.metrics().items()}
    mlflow.log_metrics(metrics)
    mlflow.log_text(validation_html(validation_report), "data/validation_report.html")
    mlflow.log_dict(validation_report.to_dict(), "data/validation_report.json")
    mlflow.log_dict(schema.to_dict(), "data/schema.json")
    mlflow.log_text(schema_markdown(schema), "data/schema.md")
    mlflow.set_tags(
        {
            "data_validation": "passed" if validation_report.passed else "failed",
            "schema_fingerprint": schema.fingerprint(),
        }
    )
    log_metadata(metadata={**metrics, "data_passed": validation_report.passed})
    if not validation_report.passed:
        raise DataError(validation_report.error_summary())
    return True


@step
def split_dataset(
    clean_data: pd.DataFrame, schema: DatasetSchema, split: dict[str, Any], dataset: dict[str, Any]
) -> tuple[
    Annotated[pd.DataFrame, "train"],
    Annotated[pd.DataFrame, "validation"],
    Annotated[pd.DataFrame, "test"],
]:
    """Train / validation / test with a fixed seed; checks that test rows are not copies of train rows."""
    config = DatasetConfig.from_dict(dataset)
    split_config = SplitConfig(**split)
    splits = split_frame(
        clean_data,
        schema.target,
        schema.task,
        split_config,
        group_column=config.group_column,
        time_column=config.time_column,
    )
    shared = shared_rows_report(splits, [*schema.feature_names, schema.target], split_config)
    if shared["shared_rows"]:
        logger.warning(
            "%d test row(s) (%.1f%%) also appear in the training split (duplicate rows in the data).",
            shared["shared_rows"],
            100 * shared["shared_rows_share"],
        )
    logger.info("Split (%s): %s", splits.strategy, splits.sizes())
    log_metadata(metadata={"split_sizes": splits.sizes(), "split_strategy": splits.strategy, **shared})
    return splits.train, splits.validation, splits.test


@step
def fit_features(
    train: pd.DataFrame, validation: pd.DataFrame, schema: DatasetSchema, features: dict[str, Any], seed: int = 42
) -> tuple[
    Annotated[Pipeline, "preprocessor"],
    Annotated[FeatureSet, "feature_set"],
    Annotated[MarkdownString, "feature_report"],
]:
    """Fit the feature pipeline on the training rows only; encode train and validation once."""
    config = feature_config_from_dict(features)
    preprocessor = build_preprocessor(schema, config, seed=seed)
    feature_set = fit_feature_set(preprocessor, train, validation, schema)
    groups = column_groups(schema, config)
    report = MarkdownString(
        "# Features\n\n"
        f"{feature_set.n_features} model inputs from {len(schema.feature_columns)} columns, fitted on "
        f"{len(train)} training rows.\n\n"
        f"- numeric (impute + scale): {', '.join(groups.numeric) or '-'}\n"
        f"- one-hot: {', '.join(groups.onehot) or '-'}\n"
        f"- target-encoded (many categories): {', '.join(groups.target_encoded) or '-'}\n"
        f"- boolean: {', '.join(groups.boolean) or '-'}\n"
        f"- datetime (expanded): {', '.join(groups.datetime) or '-'}\n"
        f"- excluded: {', '.join(f'{c.name} ({c.role})' for c in schema.excluded_columns) or '-'}\n"
    )
    log_metadata(metadata={"n_model_inputs": feature_set.n_features, "target_encoded": groups.target_encoded})
    return preprocessor, feature_set, report
