"""The real seldon-core 1.19 microservice running the project's Seldon class on a registered model.

A model is trained, logged and registered in a temporary MLflow registry, and loaded from it as
the FastAPI server loads it. The FastAPI app serves it on 127.0.0.1; the same registered model is
exported as a bundle and served by ``seldon-core-microservice TabularSeldonModel`` from
``.venv-seldon`` (Python 3.12, numpy 1.x: ``make seldon-venv``). Both get real HTTP requests; the
answers must agree to rtol 1e-9, and bad payloads must get Seldon's 400 ``status`` naming the field.

seldon-core's servers always bind 0.0.0.0 (no option for the address): during this test the
microservice listens on two free ports of every interface of this machine. gRPC is switched off.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tabular_mlops.serving.app import ServingSettings, create_app
from tabular_mlops.serving.bundle import INFO_FILE, export_bundle
from tabular_mlops.serving.model import ServedModel
from tests.conftest import PROJECT_ROOT, fit_model, free_port, serve_in_thread

pytestmark = pytest.mark.e2e

SELDON_VENV = Path(os.environ.get("SELDON_VENV", PROJECT_ROOT / ".venv-seldon"))
MICROSERVICE = SELDON_VENV / "bin" / "seldon-core-microservice"
MODEL_NAME = "adult-income-seldon"


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


@pytest.fixture(scope="module")
def seldon_venv() -> Path:
    if not MICROSERVICE.is_file():
        pytest.skip(f"{MICROSERVICE} is missing: run `make seldon-venv` (seldon-core 1.19 in its own Python 3.12 venv)")
    return SELDON_VENV


@pytest.fixture(scope="module")
def registered(adult_sample: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> ServedModel:
    """A LightGBM pipeline logged and registered in a temporary MLflow registry, loaded back from it."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    from tabular_mlops.registry.mlflow_registry import log_model, register_model

    store = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    previous_registry, previous_env = registry_utils._registry_uri, os.environ.get("MLFLOW_REGISTRY_URI")
    with _use_tracking_uri(uri):
        mlflow.set_registry_uri(uri)
        try:
            experiment = mlflow.create_experiment("seldon-e2e", artifact_location=str(store / "artifacts"))
            pipeline, schema = fit_model(adult_sample, "income", n_estimators=50)
            with mlflow.start_run(experiment_id=experiment):
                info = log_model(pipeline, adult_sample[schema.feature_names], schema, {"family": "lightgbm"})
            version = register_model(info.model_uri, MODEL_NAME)
            served = ServedModel.from_mlflow(version.registry_uri, name=MODEL_NAME, version=version.version)
        finally:  # this process's MLflow URIs as they were
            registry_utils._registry_uri = previous_registry
            if previous_env is None:
                os.environ.pop("MLFLOW_REGISTRY_URI", None)
            else:
                os.environ["MLFLOW_REGISTRY_URI"] = previous_env
    return served


@pytest.fixture(scope="module")
def fastapi_url(registered: ServedModel) -> Iterator[str]:
    with serve_in_thread(create_app(registered, ServingSettings(max_rows=10_000))) as url:
        yield url


def start_microservice(venv: Path, model_dir: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], int, int, Path]:
    http_port, metrics_port = free_port(), free_port()
    log = workdir / "microservice.log"
    env = {
        **os.environ,
        "PYTHONPATH": f"{PROJECT_ROOT / 'deploy' / 'seldon'}{os.pathsep}{PROJECT_ROOT}",
        "MODEL_DIR": str(model_dir),
    }
    env.pop("VIRTUAL_ENV", None)
    command = [
        str(venv / "bin" / "seldon-core-microservice"),
        "TabularSeldonModel",
        "--service-type",
        "MODEL",
        "--http-port",
        str(http_port),
        "--metrics-port",
        str(metrics_port),
        "--grpc-workers",
        "0",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    return process, http_port, metrics_port, log


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the microservice's process group (gunicorn master, workers, metrics server): ours alone."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def seldon(
    seldon_venv: Path, registered: ServedModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("seldon")
    bundle = export_bundle(registered, workdir / "bundle")
    started = time.perf_counter()
    process, http_port, metrics_port, log = start_microservice(seldon_venv, bundle, workdir)
    url = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.time() + 90
        ready = False
        while time.time() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"{url}/health/ping", timeout=2).text == "pong"
                ready = ready and httpx.get(f"{url}/health/status", timeout=5).status_code == 200
            except httpx.HTTPError:
                ready = False
            if ready:
                break
            time.sleep(0.1)
        assert ready, f"the microservice did not become ready:\n{log.read_text(errors='replace')[-4000:]}"
        seconds = time.perf_counter() - started
        print(f"\nseldon-core-microservice ready in {seconds:.2f} s")
        yield {"url": url, "metrics": f"http://127.0.0.1:{metrics_port}", "log": log, "start_s": seconds}
    finally:
        stop(process)


def predict(seldon: dict[str, Any], body: Any) -> httpx.Response:
    return httpx.post(f"{seldon['url']}/api/v1.0/predictions", json=body, timeout=30)


def fastapi(url: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    response = httpx.post(f"{url}/predict", json={"records": rows}, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def test_rows(adult_frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = records(adult_frame.tail(300).drop(columns=["income"]))
    rows[0] = {**rows[0], "workclass": "never-seen-in-training", "occupation": None}  # unseen + missing
    return rows


def test_ndarray_answers_as_the_fastapi_server(
    seldon: dict[str, Any], fastapi_url: str, registered: ServedModel, test_rows: list[dict[str, Any]]
) -> None:
    names = registered.schema.feature_names[::-1]  # any column order, named
    response = predict(
        seldon,
        {"data": {"names": names, "ndarray": [[r[n] for n in names] for r in test_rows]}, "meta": {"puid": "p1"}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    expected = fastapi(fastapi_url, test_rows)
    assert body["data"]["names"] == registered.classes
    want = np.array([[p[c] for c in registered.classes] for p in expected["probabilities"]])
    np.testing.assert_allclose(np.array(body["data"]["ndarray"]), want, rtol=1e-9, atol=0)
    assert body["meta"]["tags"]["predictions"] == expected["predictions"]  # the decision threshold applied
    assert body["meta"]["tags"]["model_name"] == MODEL_NAME and body["meta"]["puid"] == "p1"


def test_positional_ndarray_uses_the_training_order(
    seldon: dict[str, Any], registered: ServedModel, test_rows: list[dict[str, Any]]
) -> None:
    names = registered.schema.feature_names
    named = predict(seldon, {"data": {"names": names, "ndarray": [[r[n] for n in names] for r in test_rows[:5]]}})
    positional = predict(seldon, {"data": {"ndarray": [[r[n] for n in names] for r in test_rows[:5]]}})
    assert positional.status_code == 200, positional.text
    assert positional.json()["data"] == named.json()["data"]


def test_json_records_answer_as_the_fastapi_server(
    seldon: dict[str, Any], fastapi_url: str, test_rows: list[dict[str, Any]]
) -> None:
    expected = fastapi(fastapi_url, test_rows)
    for body in ({"jsonData": test_rows}, {"jsonData": {"records": test_rows}}):
        response = predict(seldon, body)
        assert response.status_code == 200, response.text
        answer = response.json()["jsonData"]
        assert answer["predictions"] == expected["predictions"]
        assert answer["model_name"] == MODEL_NAME
        for got, want in zip(answer["probabilities"], expected["probabilities"], strict=True):
            assert got.keys() == want.keys()
            np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-9, atol=0)


@pytest.mark.parametrize(
    ("make_body", "field", "words"),
    [
        (lambda n, r: {"data": {"names": n[1:], "ndarray": [[r[k] for k in n[1:]]]}}, "age", "is missing"),
        (lambda n, r: {"data": {"names": n, "ndarray": [[r[k] for k in n][:-1]]}}, "native-country", "no value"),
        (lambda n, r: {"data": {"names": n, "ndarray": [[*([r[k] for k in n]), 1]]}}, None, "'names' lists 14"),
        (lambda n, r: {"jsonData": [{**r, "age": "forty"}]}, "age", "expected a number"),
        (lambda n, r: {"jsonData": [{**r, "age": True}]}, "age", "expected a number"),
        (lambda n, r: {"jsonData": [{**r, "workclass": ["Private"]}]}, "workclass", "expected a string"),
        (lambda n, r: {"jsonData": [{**r, "favourite_colour": "blue"}]}, "favourite_colour", "Unknown field"),
        (lambda n, r: {"data": {"names": n, "ndarray": []}}, None, "no rows"),
        (lambda n, r: {"jsonData": []}, None, "at least one record"),
        (lambda n, r: {"strData": "age=39"}, None, "not supported"),
        (lambda n, r: {"data": {"tensor": {"shape": [1, 1], "values": [39]}}}, None, "'ndarray'"),
    ],
)
def test_bad_payloads_get_a_seldon_400_naming_the_field(
    seldon: dict[str, Any],
    registered: ServedModel,
    test_rows: list[dict[str, Any]],
    make_body: Any,
    field: str | None,
    words: str,
) -> None:
    response = predict(seldon, make_body(registered.schema.feature_names, test_rows[1]))
    assert response.status_code == 400, response.text
    status = response.json()["status"]
    assert status["status"] == 1 and status["reason"] == "MICROSERVICE_BAD_DATA"
    assert words in status["info"], status["info"]
    if field:
        assert f"'{field}'" in status["info"], status["info"]


def test_nan_and_broken_json_are_400(seldon: dict[str, Any], registered: ServedModel) -> None:
    names = registered.schema.feature_names
    row = json.dumps([math.nan if n == "age" else None for n in names])  # NaN: Python's JSON extension
    raw = f'{{"data": {{"names": {json.dumps(names)}, "ndarray": [{row}]}}}}'
    response = httpx.post(
        f"{seldon['url']}/api/v1.0/predictions", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and "Field 'age'" in response.json()["status"]["info"]
    assert "finite" in response.json()["status"]["info"]
    broken = httpx.post(
        f"{seldon['url']}/api/v1.0/predictions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["status"]["status"] == 1


def test_health_metadata_and_prometheus_metrics(
    seldon: dict[str, Any], registered: ServedModel, test_rows: list[dict[str, Any]]
) -> None:
    status = httpx.get(f"{seldon['url']}/health/status").json()
    assert status["jsonData"] == {"status": "ready", "model_name": MODEL_NAME, "model_version": registered.version}
    metadata = httpx.get(f"{seldon['url']}/api/v1.0/metadata").json()
    assert metadata["name"] == MODEL_NAME and metadata["versions"] == [registered.version]
    assert metadata["inputs"][0]["schema"]["names"] == registered.schema.feature_names
    assert predict(seldon, {"jsonData": test_rows[:7]}).status_code == 200
    metrics = httpx.get(f"{seldon['metrics']}/metrics").text
    rows = [line for line in metrics.splitlines() if line.startswith("tabular_predicted_rows_total")]
    assert rows and float(rows[0].rsplit(" ", 1)[1]) >= 7, metrics[:2000]
    assert "tabular_predicted_class_total" in metrics and "tabular_predict_time_bucket" in metrics
    assert 'method="predict"' in metrics


def test_single_row_latency(seldon: dict[str, Any], fastapi_url: str, test_rows: list[dict[str, Any]]) -> None:
    """Sequential single-row requests over one keep-alive connection (printed; a loose bound only)."""
    timings = {}
    with httpx.Client(timeout=10) as client:
        for name, url, body in (
            ("seldon", f"{seldon['url']}/api/v1.0/predictions", {"jsonData": test_rows[:1]}),
            ("fastapi", f"{fastapi_url}/predict", {"records": test_rows[:1]}),
        ):
            for _ in range(20):
                client.post(url, json=body)
            started = time.perf_counter()
            n = 300
            for _ in range(n):
                assert client.post(url, json=body).status_code == 200
            timings[name] = (time.perf_counter() - started) / n * 1000
    print(
        f"\nsingle-row requests, sequential: seldon {timings['seldon']:.2f} ms ({1000 / timings['seldon']:.0f}/s), "
        f"fastapi {timings['fastapi']:.2f} ms ({1000 / timings['fastapi']:.0f}/s); "
        f"microservice start {seldon['start_s']:.2f} s"
    )
    assert timings["seldon"] < 100


SELDON_PREDICT = """
import json, sys
from tabular_mlops.serving.bundle import load_bundle
model = load_bundle(sys.argv[1])
print(json.dumps({"note": model.fast_path_note, **model.predict_records(json.load(open(sys.argv[2])))}))
"""


@pytest.mark.parametrize(
    ("family", "params"),
    [("xgboost", {"n_estimators": 50}), ("random_forest", {"n_estimators": 50}), ("logistic_regression", {})],
)
def test_other_families_answer_the_same_in_the_seldon_environment(
    seldon_venv: Path,
    adult_sample: pd.DataFrame,
    test_rows: list[dict[str, Any]],
    tmp_path: Path,
    family: str,
    params: dict[str, Any],
) -> None:
    """Bundles saved under numpy 2 load under seldon-core's numpy 1.x and predict as in the project."""
    pipeline, schema = fit_model(adult_sample, "income", family=family, **params)
    model = ServedModel(pipeline=pipeline, schema=schema, name=f"adult-{family}", version="1", model_uri="memory://")
    bundle = export_bundle(model, tmp_path / "bundle")
    (tmp_path / "rows.json").write_text(json.dumps(test_rows[:100]))
    result = subprocess.run(
        [str(seldon_venv / "bin" / "python"), "-c", SELDON_PREDICT, str(bundle), str(tmp_path / "rows.json")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    expected = model.compile().predict_records(test_rows[:100])
    assert answer["note"] == model.fast_path_note
    assert answer["predictions"] == expected["predictions"]
    got = np.array([[p[c] for c in model.classes] for p in answer["probabilities"]])
    want = np.array([[p[c] for c in model.classes] for p in expected["probabilities"]])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15)


def test_mlp_family_is_refused_clearly(seldon_venv: Path, adult_sample: pd.DataFrame, tmp_path: Path) -> None:
    """The Seldon environment has no PyTorch: an MLP bundle is refused with a message, not a traceback."""
    pipeline, schema = fit_model(
        adult_sample.head(400), "income", family="mlp", hidden_sizes=(8,), max_iter=2, device="cpu"
    )
    model = ServedModel(pipeline=pipeline, schema=schema, name="adult-mlp", version="1", model_uri="memory://")
    bundle = export_bundle(model, tmp_path / "mlp")
    assert json.loads((bundle / INFO_FILE).read_text())["requires"] == ["torch"]
    script = (
        "import sys\nfrom tabular_mlops.serving.bundle import BundleError, load_bundle\n"
        "try:\n    load_bundle(sys.argv[1])\nexcept BundleError as exc:\n    print(exc)\n    sys.exit(3)\n"
    )
    result = subprocess.run(
        [str(seldon_venv / "bin" / "python"), "-c", script, str(bundle)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        cwd=tmp_path,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "needs torch" in result.stdout and "leaves out PyTorch" in result.stdout
