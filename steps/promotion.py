"""Promotion: the gates decide staging; people decide production. Stages mirrored to ZenML.

``promote_model`` runs in the training pipeline; ``mirror_to_zenml`` is also used by
``python run.py promote`` so that a manual review lands in ZenML's Model Control Plane too.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient
from zenml import log_metadata, step
from zenml.client import Client
from zenml.logger import get_logger

from tabular_mlops.config import DatasetConfig
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.evaluation.metrics import evaluate_estimator
from tabular_mlops.registry.gates import GateReport, champion_rule, check_gates, merge_gates, parse_gates
from tabular_mlops.registry.promotion import ALIASES, AuditEvent, transition

logger = get_logger(__name__)


def mirror_to_zenml(model_name: str, events: list[AuditEvent]) -> None:
    """Apply MLflow stage changes to the linked ZenML model versions, with the audit event as metadata."""
    client = MlflowClient()
    for event in events:
        tags = client.get_model_version(model_name, event.version).tags
        zenml_version = tags.get("zenml_model_version")
        if not zenml_version:
            continue
        version = Client().get_model_version(model_name, zenml_version)
        version.set_stage(event.to_stage, force=True)
        Client().create_run_metadata(
            metadata={f"audit_{event.sequence:04d}": asdict(event), "mlflow_stage": event.to_stage},
            resources=[_resource(version.id)],
        )


def _resource(version_id: Any) -> Any:
    from zenml.enums import MetadataResourceTypes
    from zenml.models import RunMetadataResource

    return RunMetadataResource(id=version_id, type=MetadataResourceTypes.MODEL_VERSION)


@step(enable_cache=False, experiment_tracker=True)
def promote_model(
    registration: dict[str, Any],
    test: pd.DataFrame,
    schema: DatasetSchema,
    test_metrics: dict[str, float],
    gates: dict[str, Any],
    dataset: dict[str, Any],
) -> Annotated[dict[str, Any], "gate_report"]:
    """Check the gates (and beat the champion on the same test rows): pass -> staging, else none."""
    config = DatasetConfig.from_dict(dataset)
    name, version = registration["model_name"], registration["model_version"]
    rules, margin = parse_gates(merge_gates(gates, config.gates), schema.task)
    report = GateReport(check_gates(test_metrics, rules))
    client = MlflowClient()
    champion_version = None
    try:
        champion_version = str(client.get_model_version_by_alias(name, ALIASES["production"]).version)
    except Exception:  # noqa: BLE001 - no champion yet
        champion_version = None
    if champion_version and champion_version != version:
        champion = mlflow.sklearn.load_model(f"models:/{name}@{ALIASES['production']}")
        champion_metrics = evaluate_estimator(
            champion, test[schema.feature_names], test[schema.target], schema.task, schema.positive_class
        )
        rule = champion_rule(schema.task, test_metrics, champion_metrics, margin, champion_version)
        if rule is not None:
            report.results.append(rule)
    verdict = "passed" if report.passed else "failed: " + "; ".join(r.message for r in report.failed)
    client.set_model_version_tag(name, version, "gates", verdict[:4000])
    mlflow.log_dict(report.to_dict(), "promotion/gate_report.json")
    mlflow.log_metric("gates_passed", 1.0 if report.passed else 0.0)
    if report.passed:
        events = transition(
            name,
            version,
            "staging",
            f"gates passed: {report.summary()}",
            actor="training-pipeline",
            metrics={f"test_{k}": v for k, v in test_metrics.items()},
        )
        mirror_to_zenml(name, events)
        logger.info("Version %s of %s is now in staging: %s", version, name, report.summary())
    else:
        logger.warning("Version %s of %s stays at stage none; %s", version, name, report.summary())
    log_metadata(metadata={"gates_passed": report.passed, "gate_summary": report.summary()}, infer_model=True)
    return {**report.to_dict(), "stage": "staging" if report.passed else "none", "summary": report.summary()}
