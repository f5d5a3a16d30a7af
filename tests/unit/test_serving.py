"""The FastAPI app, served for real by uvicorn on a free loopback port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn

from tabular_mlops.serving.app import create_app
from tabular_mlops.serving.model import ServedModel
from tests.conftest import fit_model, free_port


@pytest.fixture(scope="module")
def served_model(adult_sample: pd.DataFrame) -> ServedModel:
    pipeline, schema = fit_model(adult_sample, "income", n_estimators=50)
    return ServedModel(pipeline=pipeline, schema=schema, name="adult-test", version="7", model_uri="memory://")


@pytest.fixture(scope="module")
def server_url(served_model: ServedModel) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(served_model, max_rows=100), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 15
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def test_healthz(server_url: str) -> None:
    assert httpx.get(f"{server_url}/healthz").json() == {"status": "ok"}


def test_predict_matches_in_process_model(
    server_url: str, served_model: ServedModel, adult_frame: pd.DataFrame
) -> None:
    rows = adult_frame.tail(200).drop(columns=["income"])
    response = httpx.post(f"{server_url}/predict", json={"records": records(rows.head(100))})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = served_model.pipeline.predict(rows.head(100))
    assert body["predictions"] == [str(p) for p in expected]
    expected_proba = served_model.pipeline.predict_proba(rows.head(100))[:, 1]
    got = np.array([p[">50K"] for p in body["probabilities"]])
    np.testing.assert_allclose(got, expected_proba, rtol=1e-9)
    assert body["model_name"] == "adult-test" and body["model_version"] == "7"


def test_wrong_type_is_422_naming_the_field(server_url: str) -> None:
    response = httpx.post(f"{server_url}/predict", json={"records": [{"age": "forty"}]})
    assert response.status_code == 422
    assert response.json()["field"] == "age"
    assert "'age'" in response.json()["detail"]


def test_too_many_rows_is_413(server_url: str) -> None:
    response = httpx.post(f"{server_url}/predict", json={"records": [{"age": 30}] * 101})
    assert response.status_code == 413
    assert "limit is 100" in response.json()["detail"]


def test_empty_or_malformed_body_is_4xx(server_url: str) -> None:
    assert httpx.post(f"{server_url}/predict", json={"records": []}).status_code == 422
    assert httpx.post(f"{server_url}/predict", content=b"not json").status_code == 422
    assert httpx.post(f"{server_url}/predict", json={"records": [[1, 2]]}).status_code == 422


def test_model_info_describes_schema(server_url: str) -> None:
    info = httpx.get(f"{server_url}/model-info").json()
    assert info["name"] == "adult-test" and info["task"] == "binary"
    assert info["classes"] == ["<=50K", ">50K"]
    workclass = next(f for f in info["features"] if f["name"] == "workclass")
    assert "Private" in workclass["categories"]


def test_metrics_count_requests(server_url: str) -> None:
    httpx.post(f"{server_url}/predict", json={"records": [{"age": 30}, {"age": 50}]})
    text = httpx.get(f"{server_url}/metrics").text
    assert 'http_requests_total{endpoint="/predict",status="200"}' in text
    assert "predicted_rows_total" in text
    assert 'model_info{name="adult-test",version="7"} 1.0' in text
