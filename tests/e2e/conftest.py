"""Shared end-to-end helpers: run.py as a subprocess, the local ZenML server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PROJECT_ROOT, free_port

# A short search over two families: the end-to-end tests check wiring, not model quality.
QUICK = ("--budget", "6", "--families", "logistic_regression,lightgbm")


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without MLflow's variables, plus ``overrides``.

    ZenML's MLflow tracker exports MLFLOW_TRACKING_URI into the process that runs a step; a test
    that ran a pipeline in-process would otherwise point every later subprocess at its store.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    env.update(overrides)
    return env


def run_cli(
    *args: str, timeout: int = 600, expect_ok: bool = True, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """`python run.py ARGS --json`; the parsed last line (an error object when it failed)."""
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
        env=env if env is not None else clean_env(),
    )
    if expect_ok:
        assert result.returncode == 0, (
            f"run.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    else:
        assert result.returncode != 0, f"run.py {' '.join(args)} should have failed:\n{result.stdout[-2000:]}"
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def zenml_server() -> Iterator[str]:
    """The local ZenML server + dashboard (`zenml login --local`) on a free loopback port."""
    port = free_port()
    zenml = str(Path(sys.executable).parent / "zenml")
    env = clean_env(ZENML_AUTO_OPEN_DASHBOARD="false", AUTO_OPEN_DASHBOARD="false")
    started = subprocess.run(
        [zenml, "login", "--local", "--port", str(port), "--ip-address", "127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    yield url
    subprocess.run([zenml, "logout", "--local"], capture_output=True, text=True, timeout=120, env=env)
