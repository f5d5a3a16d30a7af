"""Model card step: one Markdown page in the dashboard and in MLflow, with the lineage of the model."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated, Any

import mlflow
from zenml import get_step_context, log_metadata, step
from zenml.types import MarkdownString

from tabular_mlops.config import DatasetConfig
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.data.validation import ValidationReport
from tabular_mlops.evaluation.model_card import ModelCardFacts, model_card_markdown

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"


@step(enable_cache=False, experiment_tracker=True)
def write_model_card(
    registration: dict[str, Any],
    gate_report: dict[str, Any],
    training_summary: dict[str, Any],
    test_metrics: dict[str, float],
    metric_intervals: dict[str, list[float]],
    explanation: dict[str, Any],
    schema: DatasetSchema,
    validation_report: ValidationReport,
    dataset: dict[str, Any],
    data_hash: str,
) -> Annotated[MarkdownString, "model_card"]:
    """Intended use, data, training, metrics with intervals, gates, top SHAP features, lineage."""
    config = DatasetConfig.from_dict(dataset)
    context = get_step_context()
    run = mlflow.active_run()
    facts = ModelCardFacts(
        model_name=registration["model_name"],
        model_version=registration["model_version"],
        stage=gate_report.get("stage", "none"),
        description=config.description,
        dataset={**config.to_dict(), "class_counts": validation_report.target_stats.get("class_counts")},
        schema=schema,
        data_sha256=data_hash,
        training=training_summary,
        metrics=test_metrics,
        intervals={k: (v[0], v[1]) for k, v in metric_intervals.items()},
        threshold=training_summary.get("threshold"),
        gates=gate_report,
        top_features=[(str(name), float(value)) for name, value in explanation.get("top_features", [])[:10]],
        explanation_output=f"{explanation.get('method', '?')} SHAP, {explanation.get('output', '')}",
        lineage={
            "ZenML pipeline run": f"{context.pipeline_run.name} ({context.pipeline_run.id})",
            "ZenML model version": f"{registration['model_name']} {registration.get('zenml_model_version')}",
            "MLflow run": run.info.run_id if run else "",
            "MLflow model": registration["model_uri"],
            "git commit": git_commit(),
            "data sha256": data_hash,
        },
    )
    card = model_card_markdown(facts)
    mlflow.log_text(card, "model_card.md")
    log_metadata(metadata={"model_card": card}, infer_model=True)
    return MarkdownString(card)
