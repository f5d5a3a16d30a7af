"""The production-like stack for real: an MLflow server on PostgreSQL and a ZenML server on MariaDB.

``python -m stacks.production_local up`` starts both on free loopback ports with databases of unique
names; the test logs in with the API key, imports a copy of stacks/production-local.yaml filled in
with its ports (``zenml stack import``), trains through ``run.py`` as a user would, and finds the
run in the ZenML server's REST API and the registered model in the MLflow server's. ``down --purge``
stops both and drops the databases.

Nothing leaks into the other tests of the session: every subprocess gets its own ZenML config dir
and no MLFLOW_* variables, and the module checks at its end that this process's environment, MLflow
URIs and ZenML configuration are what they were before.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from stacks.production_local import STACK_TEMPLATE, Settings, database_status, drop_databases, render_stack
from tests.conftest import PROJECT_ROOT, free_port
from tests.e2e.conftest import QUICK

pytestmark = pytest.mark.e2e

MANAGER = (sys.executable, "-m", "stacks.production_local")
ZENML = str(Path(sys.executable).parent / "zenml")


# --------------------------------------------------------------------------- isolation
def _zenml_config_files() -> dict[str, str]:
    """Hash of every file in this session's ZenML config dir (tests/conftest.py set ZENML_CONFIG_PATH)."""
    root = Path(os.environ["ZENML_CONFIG_PATH"])
    if not root.is_dir():
        return {}
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in {".yaml", ".yml", ".json"}
    }


def _in_process_state() -> dict[str, Any]:
    import mlflow

    state: dict[str, Any] = {
        "environ": {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"},
        "mlflow_tracking_uri": mlflow.get_tracking_uri(),
        "mlflow_registry_uri": mlflow.get_registry_uri(),
        "zenml_config_files": _zenml_config_files(),
    }
    global_config = sys.modules.get("zenml.config.global_config")
    instance = getattr(getattr(global_config, "GlobalConfiguration", None), "_global_config", None)
    state["zenml_store_url"] = instance.store_configuration.url if instance is not None else None
    return state


@pytest.fixture(scope="module", autouse=True)
def untouched_test_process() -> Iterator[None]:
    """After the module: the same environment, MLflow URIs and ZenML configuration as before it."""
    before = _in_process_state()
    yield
    after = _in_process_state()
    changed = {key for key in before if before[key] != after[key]}
    if "environ" in changed:
        keys = set(before["environ"]) ^ set(after["environ"]) | {
            k for k in before["environ"] if before["environ"].get(k) != after["environ"].get(k)
        }
        changed = (changed - {"environ"}) | {f"environ[{key}]" for key in keys}
    assert not changed, f"the production-stack test changed this process's state: {sorted(changed)}"


# --------------------------------------------------------------------------- helpers
def client_env(home: Path) -> dict[str, str]:
    """A subprocess environment of its own: a fresh ZenML config dir, no repository, no MLFLOW_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "ZENML_"))}
    (home / "zenml-repo").mkdir(parents=True, exist_ok=True)
    env.update(
        ZENML_CONFIG_PATH=str(home / "zenml-config"),
        ZENML_REPOSITORY_PATH=str(home / "zenml-repo"),  # empty: no `.zen` repository is used
        ZENML_ANALYTICS_OPT_IN="false",
        ZENML_ENABLE_RICH_TRACEBACK="false",
        AUTO_OPEN_DASHBOARD="false",
    )
    return env


def run(command: list[str] | tuple[str, ...], env: dict[str, str], timeout: int = 300) -> str:
    """Run a command in the project root; its stdout, or a failure with both streams."""
    result = subprocess.run(
        list(command), capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT, env=env, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout


def unique_settings(state_dir: Path) -> Settings:
    suffix = f"{os.getpid()}_{secrets.token_hex(3)}"
    mlflow_port = free_port()
    zenml_port = free_port()
    while zenml_port == mlflow_port:
        zenml_port = free_port()
    return Settings(
        state_dir=state_dir,
        mlflow_port=mlflow_port,
        zenml_port=zenml_port,
        mlflow_db=f"e2e_mlflow_{suffix}",
        zenml_db=f"e2e_zenml_{suffix}",
        zenml_db_user=f"e2e_zenml_{suffix}",
        timeout_s=240,
    )


def options(settings: Settings) -> list[str]:
    return [
        "--state-dir", str(settings.state_dir),
        "--mlflow-port", str(settings.mlflow_port),
        "--zenml-port", str(settings.zenml_port),
        "--mlflow-db", settings.mlflow_db,
        "--zenml-db", settings.zenml_db,
        "--zenml-db-user", settings.zenml_db_user,
        "--timeout", str(settings.timeout_s),
    ]  # fmt: skip


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Both servers up on free ports with unique databases; everything stopped and dropped afterwards."""
    home = tmp_path_factory.mktemp("production-stack")
    settings = unique_settings(home / "state")
    try:
        import psycopg2  # noqa: F401
        import pymysql  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"the production-local extra is not installed ({exc}): pip install -e '.[production-local]'")
    missing = [db["error"] for db in database_status(settings).values() if not db["reachable"]]
    if missing:
        pytest.skip("the production-like stack needs PostgreSQL and MariaDB on loopback: " + " | ".join(missing))

    env = client_env(home / "manager")
    try:
        output = run([*MANAGER, "up", *options(settings)], env, timeout=int(settings.timeout_s) + 120)
        yield {"settings": settings, "home": home, "up_output": output}
    finally:
        result = subprocess.run(
            [*MANAGER, "down", "--purge", *options(settings)],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=PROJECT_ROOT,
            env=env,
            check=False,
        )
        if result.returncode != 0:  # the servers may be gone already; the databases must go anyway
            drop_databases(settings, say=lambda _: None)


@pytest.fixture(scope="module")
def trained(services: dict[str, Any]) -> dict[str, Any]:
    """Log in, import the stack with the test's ports, train through run.py on it."""
    settings: Settings = services["settings"]
    home: Path = services["home"]
    env = client_env(home / "client")
    run([*MANAGER, "login", "--state-dir", str(settings.state_dir)], env)

    stack = render_stack(
        yaml.safe_load(STACK_TEMPLATE.read_text(encoding="utf-8")), settings.mlflow_url, settings.zenml_artifacts_dir
    )
    stack_copy = home / "production-local.yaml"
    stack_copy.write_text(yaml.safe_dump(stack, sort_keys=False), encoding="utf-8")
    run([ZENML, "stack", "import", stack["stack_name"], "-f", str(stack_copy)], env)
    run([ZENML, "stack", "set", stack["stack_name"]], env)

    output = run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), "train", "--dataset", "adult", *QUICK, "--json"], env, 900
    )
    summary = dict(json.loads(output.strip().splitlines()[-1]))
    return {**services, "summary": summary, "client_env": env}


# --------------------------------------------------------------------------- tests
def test_pipeline_run_is_in_the_zenml_server(trained: dict[str, Any]) -> None:
    settings: Settings = trained["settings"]
    summary = trained["summary"]
    runs_url = f"{settings.zenml_url}/api/v1/runs"
    assert httpx.get(runs_url, timeout=30).status_code == 401  # the server wants credentials

    key = settings.api_key_file.read_text(encoding="utf-8").strip()
    login = httpx.post(f"{settings.zenml_url}/api/v1/login", data={"password": key}, timeout=30)
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    response = httpx.get(runs_url, params={"size": 50, "hydrate": True}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    runs = {item["id"]: item for item in response.json()["items"]}
    assert summary["zenml_run_id"] in runs, f"run {summary['zenml_run_id']} not in {sorted(runs)}"
    found = runs[summary["zenml_run_id"]]
    assert found["name"] == summary["zenml_run_name"]
    assert found["body"]["status"] == "completed"
    stack = found.get("resources", {}).get("stack") or found["body"].get("stack") or {}
    assert stack.get("name") == "production-local"


def test_model_is_registered_in_the_mlflow_server(trained: dict[str, Any]) -> None:
    settings: Settings = trained["settings"]
    summary = trained["summary"]
    api = f"{settings.mlflow_url}/api/2.0/mlflow"
    model = httpx.get(f"{api}/registered-models/get", params={"name": summary["model_name"]}, timeout=30)
    assert model.status_code == 200, model.text
    assert model.json()["registered_model"]["name"] == summary["model_name"]

    version = httpx.get(
        f"{api}/model-versions/get",
        params={"name": summary["model_name"], "version": summary["model_version"]},
        timeout=30,
    )
    assert version.status_code == 200, version.text
    assert version.json()["model_version"]["status"] == "READY"
    assert version.json()["model_version"]["run_id"] == summary["mlflow_run_id"]

    # The run's artifacts went through the server's artifact proxy into the state dir.
    mlflow_run = httpx.get(f"{api}/runs/get", params={"run_id": summary["mlflow_run_id"]}, timeout=30)
    assert mlflow_run.status_code == 200, mlflow_run.text
    assert mlflow_run.json()["run"]["info"]["artifact_uri"].startswith("mlflow-artifacts:")
    assert any(settings.mlflow_artifacts_dir.rglob("MLmodel"))


def test_status_and_a_second_up_agree(trained: dict[str, Any]) -> None:
    settings: Settings = trained["settings"]
    env = trained["client_env"]
    report = json.loads(run([*MANAGER, "status", "--json", "--state-dir", str(settings.state_dir)], env))
    assert report["ok"], report
    assert report["mlflow"]["healthy"] and report["zenml"]["healthy"]
    assert report["databases"]["postgresql"]["database"] == settings.mlflow_db

    key = settings.api_key_file.read_text(encoding="utf-8")
    output = run([*MANAGER, "up", "--state-dir", str(settings.state_dir)], env)  # ports and names remembered
    assert "MLflow tracking server: already running" in output
    assert "ZenML server: already running" in output
    assert settings.api_key_file.read_text(encoding="utf-8") == key  # the working key is kept
