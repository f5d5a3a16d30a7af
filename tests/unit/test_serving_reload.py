"""The server follows the production alias: a real MLflow registry (SQLite), a real uvicorn server,
a client that never stops sending requests while the champion alias moves."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tabular_mlops.registry.mlflow_registry import log_model
from tabular_mlops.serving.app import ModelSource, ServingSettings, create_app
from tests.conftest import fit_model, serve_in_thread

NAME = "reload-test"


@pytest.fixture()
def registry(tmp_path: Path, adult_sample: pd.DataFrame) -> Iterator[MlflowClient]:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("reload")
    try:
        for n_estimators in (20, 40):
            pipeline, schema = fit_model(adult_sample, "income", n_estimators=n_estimators)
            with mlflow.start_run():
                info = log_model(pipeline, adult_sample[schema.feature_names], schema, {"test_metrics": {}})
            mlflow.register_model(info.model_uri, NAME)
        client = MlflowClient()
        client.set_registered_model_alias(NAME, "champion", "1")
        yield client
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri("")


def test_alias_move_swaps_the_model_without_failing_a_request(
    registry: MlflowClient, adult_sample: pd.DataFrame
) -> None:
    app = create_app(settings=ServingSettings(reload_poll_s=0.2), source=ModelSource(NAME))
    record = {k: (None if pd.isna(v) else v) for k, v in adult_sample.drop(columns=["income"]).iloc[0].items()}
    answers: list[tuple[int, str]] = []
    stop = threading.Event()
    with serve_in_thread(app) as url:
        assert httpx.get(f"{url}/model-info").json()["version"] == "1"

        def client() -> None:
            with httpx.Client(timeout=10) as http:
                while not stop.is_set():
                    response = http.post(f"{url}/predict", json={"record": record})
                    answers.append((response.status_code, response.json().get("model_version", "?")))

        sender = threading.Thread(target=client)
        sender.start()
        try:
            time.sleep(1.0)
            registry.set_registered_model_alias(NAME, "champion", "2")
            deadline = time.time() + 20
            while time.time() < deadline and not (answers and answers[-1][1] == "2"):
                time.sleep(0.1)
            time.sleep(0.5)
        finally:
            stop.set()
            sender.join(timeout=20)
        info = httpx.get(f"{url}/model-info").json()
        metrics = httpx.get(f"{url}/metrics").text

    assert len(answers) > 50
    assert all(status == 200 for status, _ in answers), [a for a in answers if a[0] != 200][:5]
    versions = [version for _, version in answers]
    assert versions[0] == "1" and versions[-1] == "2"
    assert versions == sorted(versions)  # once swapped, never back
    assert info["version"] == "2" and info["stage"] == "production"
    assert 'tabular_model_info{name="reload-test",stage="production",version="2"} 1.0' in metrics
    assert 'tabular_model_reloads_total{result="loaded"} 2.0' in metrics


def test_a_failed_reload_keeps_serving(registry: MlflowClient, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(settings=ServingSettings(reload_poll_s=0), source=ModelSource(NAME))
    holder = app.state.holder
    registry.set_registered_model_alias(NAME, "champion", "2")
    monkeypatch.setattr(ModelSource, "load", lambda self, version: (_ for _ in ()).throw(OSError("disk gone")))
    answer = holder.reload()
    assert answer["reloaded"] is False and "disk gone" in answer["reason"]
    assert holder.model.version == "1"
