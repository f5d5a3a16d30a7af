"""Test isolation: every ZenML and MLflow store the tests touch lives in a temporary directory.

The environment is set at import time, before any test module imports ZenML, so neither the
tests nor the subprocesses they start can see the user's global ZenML configuration or the
project's own `.zen` repository.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_ADULT = PROJECT_ROOT / "data" / "adult.csv.gz"
SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="tabular-mlops-tests-"))
os.environ["ZENML_CONFIG_PATH"] = str(_SESSION_DIR / "zenml-config")
os.environ["ZENML_REPOSITORY_PATH"] = str(_SESSION_DIR / "zenml-repo")
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["ZENML_ENABLE_RICH_TRACEBACK"] = "false"
os.environ["AUTO_OPEN_DASHBOARD"] = "false"
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.setdefault("SHARED_DATA_DIR", str(SHARED_DATA))  # bench/datasets/*.yaml refer to it


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not os.environ.get("KEEP_TEST_STORES"):
        shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def adult_frame() -> pd.DataFrame:
    """The bundled Adult data, typed as the training pipeline types it."""
    from tabular_mlops.data.prepare import load_typed

    return load_typed(str(BUNDLED_ADULT), "income").frame


@pytest.fixture(scope="session")
def adult_sample(adult_frame: pd.DataFrame) -> pd.DataFrame:
    """3,000 rows of Adult with a fixed seed: enough to train, quick to fit."""
    return adult_frame.sample(n=3000, random_state=7).reset_index(drop=True)


def write_csv(path: Path, text: str | bytes) -> Path:
    """Write a small CSV fixture (text is written as UTF-8, bytes as they are)."""
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def shared_csv(name: str) -> Path:
    """A CSV from the shared real datasets (tests and benchmarks only); skips when absent."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"shared dataset {path} is not available; set SHARED_DATA_DIR to the shared/data folder")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """A real uvicorn server for ``app`` on a free loopback port, in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 15
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def fit_model(frame: pd.DataFrame, target: str, family: str = "lightgbm", **params: object):
    """A fitted preprocessing + estimator pipeline and its schema, as the training step builds them."""
    from tabular_mlops.data.schema import infer_schema
    from tabular_mlops.features.preprocessing import build_model_pipeline, build_preprocessor
    from tabular_mlops.models.zoo import make_estimator

    schema = infer_schema(frame, target)
    model = build_model_pipeline(build_preprocessor(schema), make_estimator(family, schema.task, params, n_jobs=1))
    model.fit(frame[schema.feature_names], frame[target])
    return model, schema
