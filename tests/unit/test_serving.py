"""The FastAPI app, served for real by uvicorn on a free loopback port."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tabular_mlops.serving.app import ServingSettings, create_app
from tabular_mlops.serving.model import ServedModel
from tests.conftest import fit_model, serve_in_thread


@pytest.fixture(scope="module")
def served_model(adult_sample: pd.DataFrame) -> ServedModel:
    pipeline, schema = fit_model(adult_sample, "income", n_estimators=50)
    return ServedModel(pipeline=pipeline, schema=schema, name="adult-test", version="7", model_uri="memory://")


@pytest.fixture(scope="module")
def server_url(served_model: ServedModel) -> Iterator[str]:
    with serve_in_thread(create_app(served_model, ServingSettings(max_rows=100, max_body_bytes=1024 * 1024))) as url:
        yield url


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


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({"records": [{"age": True}]}, 422, "age", "valid number"),
        ({"records": [{"age": 30, "favourite_colour": "blue"}]}, 422, "favourite_colour", "Unknown field"),
        ({"records": [{"age": 30}, {"workclass": ["a"]}]}, 422, "workclass", "record 1"),
        ({"records": [[1, 2]]}, 422, None, "JSON object"),
        ({"records": []}, 422, "records", "non-empty"),
        ({"rows": [{"age": 1}]}, 422, None, "exactly one of"),
        ({"record": {"age": 1}, "records": [{"age": 1}]}, 422, None, "exactly one of"),
        ({"columns": {"age": [1, 2], "workclass": ["Private"]}}, 422, None, "different lengths"),
        ({"columns": {"age": 3}}, 422, "age", "list of values"),
        ({"records": [{"age": 30}] * 101}, 422, None, "limit is 100"),
        ({"columns": {"age": list(range(101))}}, 422, None, "limit is 100"),
    ],
)
def test_bad_input_is_4xx_naming_the_problem(
    server_url: str, body: dict, status: int, field: str | None, words: str
) -> None:
    response = httpx.post(f"{server_url}/predict", json=body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert words in answer["detail"]
    if field:
        assert answer["field"] == field


@pytest.mark.parametrize("raw", [b"not json", b'{"records": [{"age": NaN}]}', b'{"records": [{"age": Infinity}]}', b""])
def test_malformed_json_and_non_finite_numbers_are_400(server_url: str, raw: bytes) -> None:
    response = httpx.post(f"{server_url}/predict", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["detail"]


def test_huge_number_is_rejected_not_crashing(server_url: str) -> None:
    response = httpx.post(f"{server_url}/predict", content=b'{"records": [{"age": 1e999}]}')
    assert response.status_code == 400


def test_oversize_body_is_413(server_url: str) -> None:
    response = httpx.post(f"{server_url}/predict", content=b" " * (1024 * 1024 + 10))
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_one_record_and_columns_give_the_same_answer(server_url: str, adult_frame: pd.DataFrame) -> None:
    rows = records(adult_frame.tail(3).drop(columns=["income"]))
    batch = httpx.post(f"{server_url}/predict", json={"records": rows}).json()
    single = httpx.post(f"{server_url}/predict", json={"record": rows[0]}).json()
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    columnar = httpx.post(f"{server_url}/predict", json={"columns": columns}).json()
    assert single["predictions"] == batch["predictions"][:1]
    assert columnar["predictions"] == batch["predictions"]
    assert columnar["probabilities"] == batch["probabilities"]


def test_fast_path_matches_the_pipeline_on_the_whole_test_split(
    served_model: ServedModel, adult_frame: pd.DataFrame
) -> None:
    assert served_model.compiled is not None, served_model.fast_path_note
    test = adult_frame.tail(5000).drop(columns=["income"])
    result = served_model.predict_records(records(test))
    assert result["predictions"] == [str(p) for p in served_model.pipeline.predict(test)]
    got = np.array([[p[c] for c in served_model.classes] for p in result["probabilities"]])
    np.testing.assert_allclose(got, served_model.pipeline.predict_proba(test), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("family", ["logistic_regression", "xgboost", "random_forest"])
def test_fast_path_is_exact_for_every_family(
    family: str, adult_sample: pd.DataFrame, adult_frame: pd.DataFrame
) -> None:
    from tabular_mlops.serving.fast_path import compile_pipeline

    params = {} if family == "logistic_regression" else {"n_estimators": 30}
    pipeline, schema = fit_model(adult_sample, "income", family, **params)
    compiled = compile_pipeline(pipeline, schema)
    test = adult_frame.tail(2000).drop(columns=["income"])
    predictions, probabilities = compiled.predict_records(records(test))
    assert [str(p) for p in predictions] == [str(p) for p in pipeline.predict(test)]
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(test), rtol=1e-9)


def test_fast_path_declines_date_columns() -> None:
    from tabular_mlops.serving.fast_path import NotCompilable, compile_pipeline

    frame = pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=200, freq="D").astype(str),
            "x": np.arange(200.0),
            "y": ["a", "b"] * 100,
        }
    )
    pipeline, schema = fit_model(frame, "y", "logistic_regression")
    with pytest.raises(NotCompilable, match="date columns"):
        compile_pipeline(pipeline, schema)
    served = ServedModel(pipeline=pipeline, schema=schema, name="dates", version="1", model_uri="memory://").compile()
    assert served.compiled is None and "date columns" in served.fast_path_note
    record = {"when": "2024-03-01", "x": 5.0}
    assert served.predict_records([record])["predictions"] == [str(pipeline.predict(pd.DataFrame([record]))[0])]


def test_healthz_and_readyz(server_url: str) -> None:
    assert httpx.get(f"{server_url}/readyz").json()["status"] == "ready"


def test_model_info_describes_schema(server_url: str) -> None:
    info = httpx.get(f"{server_url}/model-info").json()
    assert info["name"] == "adult-test" and info["task"] == "binary"
    assert info["classes"] == ["<=50K", ">50K"]
    assert info["prediction_path"] == "compiled and verified"
    workclass = next(f for f in info["features"] if f["name"] == "workclass")
    assert "Private" in workclass["categories"]
    assert info["schema"]["target"] == "income"


def test_openapi_documents_every_feature(server_url: str, served_model: ServedModel) -> None:
    document = httpx.get(f"{server_url}/openapi.json").json()
    record = document["components"]["schemas"]["Record"]
    assert set(record["properties"]) == set(served_model.schema.feature_names)
    assert "Private" in record["properties"]["workclass"]["description"]
    assert record["additionalProperties"] is False
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/PredictRequest"}


def test_metrics_count_requests(server_url: str) -> None:
    httpx.post(f"{server_url}/predict", json={"records": [{"age": 30}, {"age": 50}]})
    httpx.post(f"{server_url}/predict", json={"records": [{"age": "x"}]})
    text = httpx.get(f"{server_url}/metrics").text
    assert 'tabular_http_requests_total{endpoint="/predict",status="200"}' in text
    assert 'tabular_request_errors_total{endpoint="/predict",kind="validation"}' in text
    assert "tabular_predicted_rows_total" in text
    assert 'tabular_model_info{name="adult-test",stage="",version="7"} 1.0' in text
    assert 'tabular_feature_missing_total{feature="workclass"}' in text
    assert "tabular_predicted_class_total{class=" in text
    assert "tabular_model_ready 1.0" in text
    assert 'tabular_request_latency_seconds_bucket{endpoint="/predict",le="0.005"}' in text


def test_api_key(served_model: ServedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from tabular_mlops.serving.app import ServingSettings

    monkeypatch.setenv("TEST_SERVING_KEY", "s3cret")
    client = TestClient(create_app(served_model, ServingSettings(api_key_env="TEST_SERVING_KEY")))
    body = {"record": {"age": 40}}
    assert client.post("/predict", json=body).status_code == 401
    assert client.post("/predict", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.post("/predict", json=body, headers={"X-API-Key": "s3cret"}).status_code == 200
    assert client.get("/healthz").status_code == 200  # only /predict is protected


def test_unknown_fields_can_be_ignored(served_model: ServedModel) -> None:
    from fastapi.testclient import TestClient

    from tabular_mlops.serving.app import ServingSettings

    client = TestClient(create_app(served_model, ServingSettings(unknown_fields="ignore")))
    response = client.post("/predict", json={"record": {"age": 40, "favourite_colour": "blue"}})
    assert response.status_code == 200


def test_admin_reload_is_off_unless_a_token_is_set(served_model: ServedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from tabular_mlops.serving.app import ServingSettings

    settings = ServingSettings(admin_token_env="TEST_ADMIN_TOKEN")
    monkeypatch.delenv("TEST_ADMIN_TOKEN", raising=False)
    assert TestClient(create_app(served_model, settings)).post("/admin/reload").status_code == 404
    monkeypatch.setenv("TEST_ADMIN_TOKEN", "t0ken")
    client = TestClient(create_app(served_model, settings))
    assert client.post("/admin/reload", headers={"X-Admin-Token": "nope"}).status_code == 401
    answer = client.post("/admin/reload", headers={"X-Admin-Token": "t0ken"}).json()
    assert answer["reloaded"] is False and "fixed model" in answer["reason"]


def test_settings_reject_unknown_keys() -> None:
    from tabular_mlops.serving.app import ServingSettings

    with pytest.raises(ValueError, match="max_rowz"):
        ServingSettings.from_dict({"max_rowz": 5})


def test_schemathesis_finds_no_server_error_and_no_schema_violation(server_url: str, tmp_path: Path) -> None:
    """A few hundred generated requests from /openapi.json, valid and invalid: no 5xx, every answer as documented.

    ``positive_data_acceptance`` is left out: JSON Schema cannot say that all lists of a `columns`
    body have the same length, so a schema-valid body of uneven columns is (rightly) a 422."""
    import subprocess
    import sys

    schemathesis = str(Path(sys.executable).parent / "schemathesis")
    result = subprocess.run(
        [
            schemathesis, "run", f"{server_url}/openapi.json", "--checks", "all",
            "--exclude-checks", "positive_data_acceptance", "--max-examples", "300",
            "--generation-deterministic", "--workers", "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # its example database goes there
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    generated = int(re.search(r"(\d+) generated", result.stdout).group(1))  # type: ignore[union-attr]
    assert generated >= 200, result.stdout[-2000:]
