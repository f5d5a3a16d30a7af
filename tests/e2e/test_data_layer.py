"""The data layer end to end: every shared dataset, leak injection, cache invalidation, dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.conftest import BUNDLED_ADULT, PROJECT_ROOT, SHARED_DATA
from tests.e2e.conftest import QUICK, run_cli

pytestmark = pytest.mark.e2e

DATASETS = ["telco_churn", "credit_scoring", "hpc_jobs", "california_housing", "diamonds"]


@pytest.fixture(scope="module", autouse=True)
def local_stack() -> None:
    run_cli("stacks")


@pytest.fixture(scope="module")
def leaky_csv(session_dir: Path) -> tuple[Path, Path]:
    sample = pd.read_csv(BUNDLED_ADULT).sample(n=3000, random_state=3)
    clean = session_dir / "adult_clean.csv"
    sample.to_csv(clean, index=False)
    rng = np.random.default_rng(0)
    leaky = session_dir / "adult_leaky.csv"
    sample.assign(score_copy=(sample["income"] == ">50K").astype(float) + rng.normal(0, 0.1, len(sample))).to_csv(
        leaky, index=False
    )
    return clean, leaky


@pytest.mark.parametrize("name", DATASETS)
def test_every_shared_dataset_trains_with_only_a_config(name: str) -> None:
    if not (SHARED_DATA / f"{name}.csv").is_file():
        pytest.skip(f"{SHARED_DATA / name}.csv is not available; set SHARED_DATA_DIR")
    result = run_cli("train", "--dataset-config", str(PROJECT_ROOT / "bench" / "datasets" / f"{name}.yaml"), *QUICK)
    metrics = result["metrics"]
    floor = {
        "telco_churn": ("test_roc_auc", 0.82),
        "credit_scoring": ("test_roc_auc", 0.80),
        "hpc_jobs": ("test_accuracy", 0.80),
        "california_housing": ("test_r2", 0.80),
        "diamonds": ("test_r2", 0.97),
    }[name]
    assert metrics[floor[0]] > floor[1], metrics


def test_injected_leak_stops_the_run_naming_the_column(leaky_csv: tuple[Path, Path], session_dir: Path) -> None:
    clean, leaky = leaky_csv
    error = run_cli("train", "--data", str(leaky), "--target", "income", *QUICK, expect_ok=False)["error"]
    assert "Column 'score_copy' alone predicts 'income' almost perfectly" in error
    passed = run_cli("train", "--data", str(clean), "--target", "income", *QUICK)
    assert passed["metrics"]["test_roc_auc"] > 0.85


def test_validation_metrics_and_report_are_in_the_mlflow_run(leaky_csv: tuple[Path, Path]) -> None:
    clean, _ = leaky_csv
    result = run_cli("train", "--data", str(clean), "--target", "income", *QUICK)
    mlflow.set_tracking_uri(run_cli("tracking-uri")["tracking_uri"])
    try:
        run = mlflow.get_run(result["mlflow_run_id"])
        assert run.data.metrics["data_rows"] == 3000
        assert run.data.metrics["data_errors"] == 0
        assert run.data.tags["data_validation"] == "passed"
        artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "data")}
        assert {"data/validation_report.html", "data/schema.json"} <= artifacts
    finally:
        mlflow.set_tracking_uri("")


def test_editing_the_csv_invalidates_the_cached_data_steps(session_dir: Path) -> None:
    from zenml.client import Client

    path = session_dir / "adult_edit.csv"
    frame = pd.read_csv(BUNDLED_ADULT).sample(n=2500, random_state=9)
    frame.to_csv(path, index=False)
    first = run_cli("train", "--data", str(path), "--target", "income", *QUICK)
    again = run_cli("train", "--data", str(path), "--target", "income", *QUICK)
    steps = Client().get_pipeline_run(again["zenml_run_id"]).steps
    assert {
        s: steps[s].status.value for s in ("load_dataset", "validate_dataset", "split_dataset", "fit_features")
    } == {
        "load_dataset": "cached",
        "validate_dataset": "cached",
        "split_dataset": "cached",
        "fit_features": "cached",
    }
    assert steps["train_model"].status.value == "completed" and steps["register_model"].status.value == "completed"
    frame.head(2400).to_csv(path, index=False)  # same name, different content
    edited = run_cli("train", "--data", str(path), "--target", "income", *QUICK)
    steps = Client().get_pipeline_run(edited["zenml_run_id"]).steps
    assert steps["load_dataset"].status.value == "completed"
    assert steps["fit_features"].status.value == "completed"
    assert first["model_version"] != edited["model_version"]


def test_validation_report_and_schema_visualizations_are_served(
    zenml_server: str, leaky_csv: tuple[Path, Path]
) -> None:
    from zenml.client import Client

    clean, _ = leaky_csv
    result = run_cli("train", "--data", str(clean), "--target", "income", *QUICK)
    run = Client().get_pipeline_run(result["zenml_run_id"])
    visuals: dict[str, Any] = {}
    for step, output in (
        ("validate_dataset", "validation_report"),
        ("validate_dataset", "schema"),
        ("train_model", "tuning_report"),
    ):
        artifact = run.steps[step].outputs[output][0]
        response = httpx.get(f"{zenml_server}/api/v1/artifact_versions/{artifact.id}/visualize", timeout=60)
        assert response.status_code == 200, response.text
        visuals[output] = response.json()
    assert visuals["validation_report"]["type"] == "html"
    assert (
        "Data validation" in visuals["validation_report"]["value"] and "PASSED" in visuals["validation_report"]["value"]
    )
    assert visuals["schema"]["type"] == "markdown" and "| workclass | categorical |" in visuals["schema"]["value"]
    assert visuals["tuning_report"]["type"] == "html" and "Model selection" in visuals["tuning_report"]["value"]
    assert "optimization history" in visuals["tuning_report"]["value"]
