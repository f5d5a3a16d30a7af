"""The whole path on real components: CSV -> ZenML pipeline -> MLflow registry -> HTTP predictions.

Everything runs through `run.py` as a user would call it, against a temporary ZenML store and
artifact store (see tests/conftest.py), on a few thousand rows of the bundled Adult data.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from tabular_mlops.data.prepare import load_typed
from tests.conftest import BUNDLED_ADULT, PROJECT_ROOT, free_port
from tests.e2e.conftest import QUICK, run_cli

pytestmark = pytest.mark.e2e

MODEL_NAME = "adult-e2e"


@pytest.fixture(scope="module")
def dataset_config(session_dir: Path) -> Path:
    sample = pd.read_csv(BUNDLED_ADULT).sample(n=4000, random_state=11)
    csv_path = session_dir / "adult_sample.csv"
    sample.to_csv(csv_path, index=False)
    config = {
        "name": "adult-sample",
        "path": str(csv_path),
        "target": "income",
        "task": "binary",
        "positive_class": ">50K",
        "na_values": ["?"],
        "model_name": MODEL_NAME,
    }
    path = session_dir / "adult_sample.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def trained(dataset_config: Path) -> Iterator[dict[str, Any]]:
    run_cli("stacks")
    yield run_cli("train", "--dataset-config", str(dataset_config))
    for pid in _daemon_pids():  # model servers started by `run.py deploy`
        os.kill(pid, signal.SIGTERM)


@pytest.fixture(scope="module")
def tracking_uri(trained: dict[str, Any]) -> Iterator[str]:
    uri = str(run_cli("tracking-uri")["tracking_uri"])
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield uri
    mlflow.set_tracking_uri("")


@pytest.fixture(scope="module")
def test_rows(dataset_config: Path) -> pd.DataFrame:
    frame = load_typed(str(BUNDLED_ADULT), "income").frame  # same rows, same order as the file
    sampled = pd.read_csv(BUNDLED_ADULT).sample(n=4000, random_state=11)  # the training sample
    # rows the model never saw: the first 300 of the full file not in the sample
    unseen = frame.loc[~frame.index.isin(sampled.index)].head(300)
    return unseen.drop(columns=["income"]).reset_index(drop=True)


def as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def test_training_registers_mlflow_and_zenml_versions(trained: dict[str, Any], tracking_uri: str) -> None:
    from zenml.client import Client

    assert trained["model_name"] == MODEL_NAME and trained["model_version"] == "1"
    assert trained["family"] in {"logistic_regression", "lightgbm", "xgboost", "random_forest", "mlp", "ensemble"}
    assert trained["metrics"]["test_roc_auc"] > 0.85
    run = mlflow.get_run(trained["mlflow_run_id"])
    assert run.data.metrics["test_roc_auc"] == pytest.approx(trained["metrics"]["test_roc_auc"], abs=1e-6)
    assert run.data.tags["registered_model_version"] == "1"
    version = mlflow.MlflowClient().get_model_version(MODEL_NAME, "1")
    assert version.tags["zenml_pipeline_run_id"] == trained["zenml_run_id"]

    # the search: every trial a child run of the training run, the selection report an artifact
    children = mlflow.search_runs(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'",
        output_format="list",
    )
    assert len(children) == int(run.data.params["hpo_trials"]) >= 5
    assert {c.data.tags["family"] for c in children} >= {"logistic_regression", "lightgbm", "xgboost", "mlp"}
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "selection")}
    assert {"selection/tuning_report.html", "selection/selection_table.csv"} <= artifacts

    zenml_version = Client().get_model_version(MODEL_NAME, trained["zenml_model_version"])
    assert zenml_version.run_metadata["mlflow_model_version"] == "1"
    assert zenml_version.run_metadata["mlflow_model_uri"] == f"models:/{MODEL_NAME}/1"
    assert "model" in zenml_version.model_artifacts or "model" in {a for a in zenml_version.model_artifacts}


def test_registered_model_loads_and_fastapi_serves_same_predictions(
    trained: dict[str, Any], tracking_uri: str, test_rows: pd.DataFrame, dataset_config: Path
) -> None:
    model = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/1")
    expected = [str(p) for p in model.predict(test_rows)]
    expected_proba = model.predict_proba(test_rows)[:, list(model.classes_).index(">50K")]

    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            str(PROJECT_ROOT / "run.py"),
            "serve",
            "--dataset-config",
            str(dataset_config),
            "--version",
            "1",
            "--port",
            str(port),
            "--json",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(f"{url}/healthz", process)
        response = httpx.post(f"{url}/predict", json={"records": as_records(test_rows)}, timeout=30)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["predictions"] == expected
        np.testing.assert_allclose([p[">50K"] for p in body["probabilities"]], expected_proba, rtol=1e-9)
        assert (body["model_name"], body["model_version"]) == (MODEL_NAME, "1")
        info = httpx.get(f"{url}/model-info").json()
        assert info["metrics"]["roc_auc"] == pytest.approx(trained["metrics"]["test_roc_auc"], abs=1e-6)
        assert info["prediction_path"] == "compiled and verified"  # the fast path, checked against the pipeline
        metrics = httpx.get(f"{url}/metrics").text
        assert 'tabular_http_requests_total{endpoint="/predict",status="200"} 1.0' in metrics
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def test_export_writes_a_bundle_that_predicts_as_the_registered_model(
    trained: dict[str, Any], tracking_uri: str, test_rows: pd.DataFrame, dataset_config: Path, tmp_path: Path
) -> None:
    from tabular_mlops.serving.bundle import load_bundle

    exported = run_cli(
        "export", "--dataset-config", str(dataset_config), "--version", "1", "--output", str(tmp_path / "bundle")
    )
    assert (exported["model_name"], exported["model_version"]) == (MODEL_NAME, "1")
    assert "seldon-core-microservice TabularSeldonModel" in exported["seldon_command"]
    bundled = load_bundle(exported["bundle"])
    model = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/1")
    answer = bundled.predict_records(as_records(test_rows))
    assert answer["predictions"] == [str(p) for p in model.predict(test_rows)]
    expected = model.predict_proba(test_rows)[:, list(model.classes_).index(">50K")]
    np.testing.assert_allclose([p[">50K"] for p in answer["probabilities"]], expected, rtol=1e-9)
    missing = run_cli(
        "export", "--dataset-config", str(dataset_config), "--version", "99", "--output", str(tmp_path), expect_ok=False
    )
    assert "99" in missing["error"]


def test_deploy_with_stack_model_deployer_serves_and_replaces(
    trained: dict[str, Any], tracking_uri: str, test_rows: pd.DataFrame, dataset_config: Path
) -> None:
    deployed = run_cli("deploy", "--dataset-config", str(dataset_config), "--version", "1")
    url = deployed["endpoint_url"]
    assert url.startswith("http://") and url.endswith("/invocations")
    assert deployed["model_version"] == "1" and deployed["stage"] in {"none", "staging"}
    assert deployed["metrics"]["test_roc_auc"] == pytest.approx(trained["metrics"]["test_roc_auc"], abs=1e-5)
    payload = {"dataframe_split": json.loads(test_rows.head(50).to_json(orient="split", index=False))}
    response = httpx.post(url, json=payload, timeout=30)
    assert response.status_code == 200, response.text
    model = mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/1")
    assert response.json()["predictions"] == [str(p) for p in model.predict(test_rows.head(50))]
    # deploying again replaces the server instead of leaving nothing (or two) running
    again = run_cli("deploy", "--dataset-config", str(dataset_config), "--version", "1")
    assert httpx.post(again["endpoint_url"], json=payload, timeout=30).status_code == 200
    assert len(_daemon_pids()) == 1


def test_retraining_reuses_cached_data_steps_and_redeploy_replaces_old_version(
    trained: dict[str, Any], dataset_config: Path, test_rows: pd.DataFrame
) -> None:
    from zenml.client import Client

    second = run_cli("train", "--dataset-config", str(dataset_config), *QUICK)
    assert second["model_version"] == "2"
    steps = Client().get_pipeline_run(second["zenml_run_id"]).steps
    assert steps["load_dataset"].status.value == "cached"
    assert steps["train_model"].status.value == "completed"
    deployed = run_cli("deploy", "--dataset-config", str(dataset_config), "--version", "2")
    assert deployed["model_version"] == "2"
    assert len(_daemon_pids()) == 1, "the server of version 1 must be replaced, not left running"
    payload = {"dataframe_records": as_records(test_rows.dropna().head(3))}
    assert httpx.post(deployed["endpoint_url"], json=payload, timeout=30).status_code == 200


def _wait_for(url: str, process: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def _daemon_pids() -> list[int]:
    pids = []
    for pid_file in Path(os.environ["ZENML_CONFIG_PATH"]).glob("local_stores/*/*/service.pid"):
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, PermissionError):
            continue
        pids.append(pid)
    return pids
