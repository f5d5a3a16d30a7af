"""The pure parts of stacks/production_local.py, and its errors against real closed ports and processes."""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.production_local import (
    LOOPBACK,
    STACK_TEMPLATE,
    ProductionLocalError,
    Service,
    Settings,
    build_parser,
    clean_environment,
    down,
    ensure_mariadb_database,
    ensure_postgres_database,
    load_secrets,
    main,
    mlflow_command,
    mlflow_environment,
    port_in_use,
    process_group_alive,
    redact,
    render_stack,
    running_pid,
    settings_from_args,
    start_service,
    status,
    stop_service,
    up,
    wait_healthy,
    write_rendered_stack,
    zenml_command,
    zenml_environment,
    zenml_store_url,
)
from tests.conftest import free_port


def parse(argv: list[str], environ: dict[str, str] | None = None) -> Settings:
    return settings_from_args(build_parser().parse_args(argv), environ or {})


def closed_db_settings(state_dir: Path) -> Settings:
    """Settings whose database ports nothing listens on: every connection attempt really fails."""
    return Settings(state_dir=state_dir, postgres_port=free_port(), mariadb_port=free_port(), timeout_s=5)


def template() -> dict[str, Any]:
    return dict(yaml.safe_load(STACK_TEMPLATE.read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- arguments and settings
def test_defaults_and_options(tmp_path: Path) -> None:
    settings = parse(["up", "--state-dir", str(tmp_path)])
    assert settings.state_dir == tmp_path.resolve()
    assert (settings.mlflow_port, settings.zenml_port) == (5000, 8237)
    assert (settings.postgres_port, settings.mariadb_port) == (5432, 3306)
    assert settings.mlflow_url == "http://127.0.0.1:5000"
    assert settings.zenml_url == "http://127.0.0.1:8237"

    settings = parse(
        [
            *("status", "--state-dir", str(tmp_path), "--mlflow-port", "5101", "--zenml-port", "8301"),
            *("--mlflow-db", "m_db", "--zenml-db", "z_db", "--zenml-db-user", "z_user", "--timeout", "9"),
        ],
        {"PRODUCTION_LOCAL_POSTGRES_PASSWORD": "pg-secret"},
    )
    assert (settings.mlflow_port, settings.zenml_port, settings.timeout_s) == (5101, 8301, 9.0)
    assert (settings.mlflow_db, settings.zenml_db, settings.zenml_db_user) == ("m_db", "z_db", "z_user")
    assert settings.postgres_password == "pg-secret"
    assert "pg-secret" not in repr(settings)


def test_up_remembers_ports_and_names_for_the_other_commands(tmp_path: Path) -> None:
    remembered = Settings(state_dir=tmp_path, mlflow_port=5202, zenml_port=8402, mlflow_db="kept_db")
    (tmp_path / "state.json").write_text(json.dumps({"settings": remembered.remembered()}))
    settings = parse(["down", "--state-dir", str(tmp_path)])
    assert (settings.mlflow_port, settings.zenml_port, settings.mlflow_db) == (5202, 8402, "kept_db")
    assert parse(["down", "--state-dir", str(tmp_path), "--zenml-port", "8403"]).zenml_port == 8403
    assert "postgres_password" not in remembered.remembered()  # passwords are never written to the state


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mlflow_port": 0}, r"--mlflow-port 0 is not a TCP port"),
        ({"zenml_port": 70000}, r"--zenml-port 70000 is not a TCP port"),
        ({"mlflow_port": 9000, "zenml_port": 9000}, r"both 9000"),
        ({"mlflow_db": "x; DROP DATABASE y"}, r"--mlflow-db 'x; DROP DATABASE y' is not a plain SQL name"),
        ({"zenml_db_user": "a" * 33}, r"--zenml-db-user .* at most 32 characters"),
        ({"mlflow_workers": 0}, r"--mlflow-workers 0 must be at least 1"),
    ],
)
def test_invalid_settings_are_explained(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ProductionLocalError, match=message):
        Settings(state_dir=tmp_path, **overrides)


def test_a_command_is_required() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([])


# --------------------------------------------------------------------------- URLs, commands, environments
def test_urls_and_dsns(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, postgres_port=5433, mariadb_port=3307, zenml_db_user="zen")
    assert settings.mlflow_backend_uri == "postgresql://postgres@127.0.0.1:5433/tabular_mlops_mlflow"
    url = zenml_store_url(settings, "p@ss:w/rd")
    assert url == "mysql://zen:p%40ss%3Aw%2Frd@127.0.0.1:3307/tabular_mlops_zenml"
    assert redact(url) == "mysql://zen:***@127.0.0.1:3307/tabular_mlops_zenml"
    assert redact(settings.mlflow_backend_uri) == settings.mlflow_backend_uri


def test_servers_listen_on_loopback_only(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, mlflow_port=5303, zenml_port=8503)
    mlflow = mlflow_command(settings, python="python")
    assert mlflow[:4] == ["python", "-m", "mlflow", "server"]
    assert mlflow[mlflow.index("--host") + 1] == LOOPBACK
    assert mlflow[mlflow.index("--port") + 1] == "5303"
    assert "--serve-artifacts" in mlflow
    assert mlflow[mlflow.index("--artifacts-destination") + 1] == str(tmp_path / "mlflow-artifacts")
    assert mlflow[mlflow.index("--backend-store-uri") + 1] == settings.mlflow_backend_uri
    zenml = zenml_command(settings, python="python")
    assert zenml[zenml.index("--host") + 1] == LOOPBACK
    assert zenml[zenml.index("--port") + 1] == "8503"


def test_server_environments_are_their_own(tmp_path: Path) -> None:
    caller = {
        "PATH": "/usr/bin",
        "MLFLOW_TRACKING_URI": "sqlite:///elsewhere.db",
        "ZENML_CONFIG_PATH": "/the/tests/config",
        "ZENML_STORE_URL": "sqlite:///other.db",
        "COVERAGE_PROCESS_CONFIG": "{}",
        "PGPASSWORD": "stale",
    }
    assert clean_environment(caller) == {"PATH": "/usr/bin", "PGPASSWORD": "stale"}

    settings = Settings(state_dir=tmp_path, zenml_port=8604, postgres_password="pg")
    assert mlflow_environment(settings, caller)["PGPASSWORD"] == "pg"
    assert "PGPASSWORD" not in mlflow_environment(Settings(state_dir=tmp_path), caller)

    secret = load_secrets(tmp_path)
    env = zenml_environment(settings, secret, caller)
    assert env["ZENML_STORE_URL"] == zenml_store_url(settings, secret["zenml_db_password"])
    assert env["ZENML_CONFIG_PATH"].startswith(str(tmp_path))
    assert "MLFLOW_TRACKING_URI" not in env and "COVERAGE_PROCESS_CONFIG" not in env
    repository = Path(env["ZENML_REPOSITORY_PATH"])  # an empty directory: no `.zen` of a parent is used
    assert repository.is_dir() and not any(repository.iterdir())
    assert env["ZENML_SERVER_AUTO_ACTIVATE"] == "true"
    assert env["ZENML_DEFAULT_USER_PASSWORD"] == secret["zenml_admin_password"]
    assert env["ZENML_SERVER_JWT_SECRET_KEY"] == secret["zenml_jwt_secret_key"]
    assert env["ZENML_SERVER_SERVER_URL"] == "http://127.0.0.1:8604"


def test_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    first = load_secrets(tmp_path)
    assert set(first) == {"zenml_db_password", "zenml_admin_password", "zenml_jwt_secret_key"}
    assert all(len(value) >= 16 for value in first.values())
    assert load_secrets(tmp_path) == first
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600


# --------------------------------------------------------------------------- the stack file
def test_stack_template_is_in_zenml_import_format() -> None:
    data = template()
    assert data["stack_name"] == "production-local"
    assert data["zenml_version"] == version("zenml")  # `zenml stack import` refuses other versions
    for type_name, entries in data["components"].items():
        assert entries[0]["type"] == type_name
    flavors = {t: entries[0]["flavor"] for t, entries in data["components"].items()}
    assert flavors == {
        "orchestrator": "local",
        "artifact_store": "local",
        "experiment_tracker": "mlflow",
        "model_registry": "mlflow",
        "model_deployer": "mlflow",
    }
    tracker = data["components"]["experiment_tracker"][0]["configuration"]
    assert tracker["tracking_uri"] == "http://127.0.0.1:5000"
    assert tracker["tracking_username"] and tracker["tracking_password"]  # one auth method, as ZenML requires
    assert Path(data["components"]["artifact_store"][0]["configuration"]["path"]).is_absolute()
    header = STACK_TEMPLATE.read_text(encoding="utf-8").split("stack_name:")[0]
    for documented in (
        "artifact_store.path",
        "tracking_uri",
        "tracking_username",
        "python -m stacks.production_local up",
    ):
        assert documented in header


def test_render_fills_in_ports_and_paths_without_touching_the_template(tmp_path: Path) -> None:
    data = template()
    rendered = render_stack(data, "http://127.0.0.1:5999", tmp_path / "artifacts")
    assert rendered["components"]["experiment_tracker"][0]["configuration"]["tracking_uri"] == "http://127.0.0.1:5999"
    assert rendered["components"]["artifact_store"][0]["configuration"]["path"] == str(tmp_path / "artifacts")
    assert "environment_overrides" not in rendered
    assert data == template()  # a copy was changed, not the caller's data
    with pytest.raises(ProductionLocalError, match="must be absolute"):
        render_stack(data, "http://127.0.0.1:5999", "relative/artifacts")
    with pytest.raises(ProductionLocalError, match="no local artifact store or MLflow experiment tracker"):
        render_stack({"stack_name": "x", "components": {}}, "http://127.0.0.1:5999", tmp_path)


def test_write_rendered_stack(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", mlflow_port=5404)
    path = write_rendered_stack(settings)
    assert path == tmp_path / "state" / "production-local.yaml"
    data = yaml.safe_load(path.read_text())
    assert data["components"]["experiment_tracker"][0]["configuration"]["tracking_uri"] == "http://127.0.0.1:5404"
    assert data["components"]["artifact_store"][0]["configuration"]["path"] == str(
        tmp_path / "state" / "zenml-artifacts"
    )
    assert f"zenml stack import production-local -f {path}" in path.read_text()


# --------------------------------------------------------------------------- real failures
def test_unreachable_postgres_is_explained(tmp_path: Path) -> None:
    pytest.importorskip("psycopg2")
    settings = closed_db_settings(tmp_path)
    with pytest.raises(ProductionLocalError) as caught:
        ensure_postgres_database(settings)
    message = str(caught.value)
    assert f"PostgreSQL is not reachable at 127.0.0.1:{settings.postgres_port} as user 'postgres'" in message
    assert "MLflow tracking server" in message and "tabular_mlops_mlflow" in message
    assert f"pg_isready -h 127.0.0.1 -p {settings.postgres_port}" in message and "--postgres-port" in message


def test_unreachable_mariadb_is_explained(tmp_path: Path) -> None:
    pytest.importorskip("pymysql")
    settings = closed_db_settings(tmp_path)
    with pytest.raises(ProductionLocalError) as caught:
        ensure_mariadb_database(settings, "secret")
    message = str(caught.value)
    assert f"MariaDB/MySQL is not reachable at 127.0.0.1:{settings.mariadb_port} as user 'root'" in message
    assert "ZenML server" in message and "tabular_mlops_zenml" in message
    assert "--mariadb-port" in message and "mysqladmin" in message


def test_up_checks_everything_before_starting_anything(tmp_path: Path) -> None:
    pytest.importorskip("psycopg2")
    settings = closed_db_settings(tmp_path)
    lines: list[str] = []
    with pytest.raises(ProductionLocalError, match="PostgreSQL is not reachable"):
        up(settings, say=lines.append, environ={})
    assert not list(tmp_path.glob("*.pid")) and not (tmp_path / "state.json").exists()
    assert lines == []


def test_a_taken_port_is_explained(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen()
        taken = listener.getsockname()[1]
        assert port_in_use(taken)
        settings = Settings(state_dir=tmp_path, mlflow_port=free_port(), zenml_port=taken)
        with pytest.raises(ProductionLocalError) as caught:
            up(settings, say=lambda _: None, environ={})
    message = str(caught.value)
    assert f"ZenML server: port 127.0.0.1:{taken} is already in use" in message
    assert "--zenml-port" in message and f"sport = :{taken}" in message
    assert not port_in_use(taken)


def test_cli_reports_errors_in_one_line_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("psycopg2")
    argv = ["up", "--state-dir", str(tmp_path), "--postgres-port", str(free_port()), "--timeout", "5"]
    assert main(argv, say=lambda _: None) == 1
    assert capsys.readouterr().err.startswith("error: PostgreSQL is not reachable at 127.0.0.1:")
    assert main(["up", "--state-dir", str(tmp_path), "--mlflow-port", "0"], say=lambda _: None) == 1
    assert "--mlflow-port 0 is not a TCP port" in capsys.readouterr().err


def test_status_and_down_when_nothing_runs(tmp_path: Path) -> None:
    pytest.importorskip("psycopg2")
    pytest.importorskip("pymysql")
    settings = Settings(
        state_dir=tmp_path,
        mlflow_port=free_port(),
        zenml_port=free_port(),
        postgres_port=free_port(),
        mariadb_port=free_port(),
    )
    report = status(settings)
    assert report["ok"] is False
    assert report["mlflow"] == {
        "url": settings.mlflow_url,
        "pid": None,
        "healthy": False,
        "log": str(tmp_path / "logs" / "mlflow.log"),
    }
    assert report["databases"]["postgresql"]["reachable"] is False
    assert "PostgreSQL is not reachable" in report["databases"]["postgresql"]["error"]
    lines: list[str] = []
    down(settings, say=lines.append)
    down(settings, say=lines.append)  # idempotent
    assert lines == ["ZenML server: not running", "MLflow tracking server: not running"] * 2


# --------------------------------------------------------------------------- real processes
def fake_service(tmp_path: Path, marker: str) -> Service:
    return Service(
        key="fake",
        title="Fake server",
        port=free_port(),
        url=f"http://127.0.0.1:{free_port()}",
        marker=marker,
        port_option="--fake-port",
        state_dir=tmp_path,
    )


def test_a_server_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    service = fake_service(tmp_path, marker="-c")
    code = "import sys; print('cannot open the database', flush=True); sys.exit(3)"
    pid = start_service(service, [sys.executable, "-c", code], dict(os.environ))
    started = time.monotonic()
    with pytest.raises(ProductionLocalError) as caught:
        wait_healthy(service, pid, timeout_s=60, say=lambda _: None)
    assert time.monotonic() - started < 30  # noticed the exit, did not wait for the timeout
    message = str(caught.value)
    assert "Fake server" in message and f"port {service.port}" in message and "exited during start" in message
    assert str(service.log_file) in message and "cannot open the database" in message


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    service = fake_service(tmp_path, marker="-c")
    pid = start_service(service, [sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ))
    try:
        lines: list[str] = []
        with pytest.raises(ProductionLocalError, match=r"did not answer .*/health within 6 s"):
            wait_healthy(service, pid, timeout_s=6, say=lines.append)
        assert any("waiting for the Fake server" in line for line in lines)
    finally:
        assert stop_service(service, say=lambda _: None)


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    service = fake_service(tmp_path, marker="-c")
    child = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    )
    pid = start_service(service, [sys.executable, "-c", child], dict(os.environ))
    time.sleep(0.5)
    assert running_pid(service) == pid
    assert stop_service(service, say=lambda _: None) is True
    assert running_pid(service) is None and not service.pid_file.exists()
    assert not process_group_alive(pid)  # the grandchild too
    assert stop_service(service, say=lambda _: None) is False  # idempotent


def test_a_recycled_pid_is_not_taken_for_the_server(tmp_path: Path) -> None:
    service = fake_service(tmp_path, marker="zen_server_api")
    service.pid_file.write_text(f"{os.getpid()}\n")  # alive, but it is this test process
    assert running_pid(service) is None
    service.pid_file.write_text("not a pid\n")
    assert running_pid(service) is None
