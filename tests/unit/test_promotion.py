"""Stages, aliases and the audit trail in a real MLflow registry (SQLite in a temporary folder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tabular_mlops.registry.mlflow_registry import log_model, production_version, register_model
from tabular_mlops.registry.promotion import (
    PromotionError,
    approve,
    audit_trail,
    models_table,
    reject,
    stage_of,
    transition,
)
from tests.conftest import fit_model

NAME = "promotion-test"


@pytest.fixture
def registry(tmp_path: Path, adult_sample: pd.DataFrame) -> Iterator[list[str]]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("p", artifact_location=(tmp_path / "a").as_uri()))
    model, schema = fit_model(adult_sample, "income", family="logistic_regression")
    versions = []
    for _ in range(3):
        with mlflow.start_run():
            info = log_model(model, adult_sample[schema.feature_names], schema)
        versions.append(register_model(info.model_uri, NAME, tags={"stage": "none", "test_roc_auc": "0.9"}).version)
    yield versions
    mlflow.set_tracking_uri("")
    mlflow.set_registry_uri("")


def production(versions: list[str]) -> list[str]:
    return [v for v in versions if stage_of(NAME, v) == "production"]


def test_review_flow_keeps_exactly_one_production(registry: list[str]) -> None:
    v1, v2, v3 = registry
    with pytest.raises(PromotionError, match="only a staging version"):
        approve(NAME, v1, "looks good")
    transition(NAME, v1, "staging", "gates passed", actor="pipeline")
    approve(NAME, v1, "first release", actor="alice")
    assert production(registry) == [v1] and production_version(NAME).version == v1
    transition(NAME, v2, "staging", "gates passed", actor="pipeline")
    events = approve(NAME, v2, "better recall", actor="bob")
    assert [(e.version, e.to_stage) for e in events] == [(v1, "archived"), (v2, "production")]
    assert production(registry) == [v2] and stage_of(NAME, v1) == "archived"
    transition(NAME, v3, "staging", "gates passed", actor="pipeline")
    reject(NAME, v3, "drops a protected group's recall", actor="carol")
    assert production(registry) == [v2] and stage_of(NAME, v3) == "none"
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == v2
    trail = audit_trail(NAME)
    assert [(e.version, e.from_stage, e.to_stage, e.actor) for e in trail] == [
        (v1, "none", "staging", "pipeline"),
        (v1, "staging", "production", "alice"),
        (v2, "none", "staging", "pipeline"),
        (v1, "production", "archived", "bob"),
        (v2, "staging", "production", "bob"),
        (v3, "none", "staging", "pipeline"),
        (v3, "staging", "none", "carol"),
    ]
    assert trail[-1].reason == "rejected: drops a protected group's recall"
    assert [e.sequence for e in trail] == list(range(1, 8))
    table = models_table(NAME)
    assert table.set_index("version").loc[int(v2), "alias"] == "champion"
    assert list(table["stage"]) == ["archived", "production", "none"]


def test_a_new_challenger_archives_the_old_one(registry: list[str]) -> None:
    v1, v2, _ = registry
    transition(NAME, v1, "staging", "gates passed")
    transition(NAME, v2, "staging", "gates passed")
    assert stage_of(NAME, v1) == "archived" and stage_of(NAME, v2) == "staging"
    assert str(mlflow.MlflowClient().get_model_version_by_alias(NAME, "challenger").version) == v2


def test_reason_is_required(registry: list[str]) -> None:
    transition(NAME, registry[0], "staging", "gates passed")
    with pytest.raises(PromotionError, match="needs a reason"):
        approve(NAME, registry[0], "  ")
