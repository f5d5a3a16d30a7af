"""The services of the production-like stack, on this machine and on 127.0.0.1 only.

An MLflow tracking server backed by PostgreSQL (runs, model registry; artifacts proxied into a
local directory) and a ZenML server backed by MariaDB/MySQL (stacks, pipeline runs, Model Control
Plane), both started as background processes; ``stacks/production-local.yaml`` is the stack that
uses them::

    python -m stacks.production_local up        # databases, MLflow on :5000, ZenML on :8237, an API key
    python -m stacks.production_local login     # zenml login http://127.0.0.1:8237 --api-key, non-interactive
    python -m stacks.production_local render    # the stack file filled in for these ports and paths
    python -m stacks.production_local status    # health of both servers and both databases
    python -m stacks.production_local down      # stop both servers (--purge: also drop the databases)

Everything it starts or writes lives under the state directory (``--state-dir``, default
``.production-local`` in the project): PID files, logs, the MLflow artifacts, the ZenML server's
config directory, the generated passwords and the API key (mode 0600). Ports and database names
given to ``up`` are remembered there, so the other commands need no options. Neither ZenML nor
MLflow is imported here: both servers, and ``zenml login``, are subprocesses.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from stacks.overrides import OVERRIDES_KEY, set_value
from tabular_mlops.errors import ConfigError, TabularMLOpsError

LOOPBACK = "127.0.0.1"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
STACK_TEMPLATE = Path(__file__).resolve().parent / "production-local.yaml"
STACK_NAME = "production-local"
SERVICE_ACCOUNT = "production-local"
STATE_FILE = "state.json"
SECRETS_FILE = "secrets.json"
API_KEY_FILE = "zenml-api-key"
RENDERED_STACK_FILE = "production-local.yaml"
PASSWORD_VARIABLES = {
    "postgres_password": "PRODUCTION_LOCAL_POSTGRES_PASSWORD",
    "mariadb_password": "PRODUCTION_LOCAL_MARIADB_PASSWORD",
}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")

Say = Callable[[str], None]


class ProductionLocalError(TabularMLOpsError):
    """A service of the production-like stack cannot be started, reached or stopped; says how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Where the services listen and which databases they use; the passwords come from the environment."""

    state_dir: Path
    mlflow_port: int = 5000
    zenml_port: int = 8237
    postgres_port: int = 5432
    postgres_user: str = "postgres"
    mlflow_db: str = "tabular_mlops_mlflow"
    mariadb_port: int = 3306
    mariadb_user: str = "root"
    zenml_db: str = "tabular_mlops_zenml"
    zenml_db_user: str = "tabular_mlops_zenml"
    mlflow_workers: int = 1
    timeout_s: float = 180.0
    postgres_password: str = field(default="", repr=False)
    mariadb_password: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        for name in ("mlflow_port", "zenml_port", "postgres_port", "mariadb_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise ProductionLocalError(f"--{name.replace('_', '-')} {port} is not a TCP port (1-65535).")
        if self.mlflow_port == self.zenml_port:
            raise ProductionLocalError(f"--mlflow-port and --zenml-port are both {self.mlflow_port}; give two ports.")
        for name in ("mlflow_db", "zenml_db", "zenml_db_user", "postgres_user", "mariadb_user"):
            value = getattr(self, name)
            if not _IDENTIFIER.match(value):
                raise ProductionLocalError(
                    f"--{name.replace('_', '-')} '{value}' is not a plain SQL name: use letters, digits and "
                    "underscores, starting with a letter or underscore, at most 32 characters."
                )
        if self.mlflow_workers < 1:
            raise ProductionLocalError(f"--mlflow-workers {self.mlflow_workers} must be at least 1.")
        if self.timeout_s <= 0:
            raise ProductionLocalError(f"--timeout {self.timeout_s} must be positive.")

    # ------------------------------------------------------------------ derived values
    @property
    def mlflow_url(self) -> str:
        return f"http://{LOOPBACK}:{self.mlflow_port}"

    @property
    def zenml_url(self) -> str:
        return f"http://{LOOPBACK}:{self.zenml_port}"

    @property
    def mlflow_backend_uri(self) -> str:
        """The MLflow server's backend store; the password, if any, travels as PGPASSWORD, not in the URI."""
        return f"postgresql://{self.postgres_user}@{LOOPBACK}:{self.postgres_port}/{self.mlflow_db}"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.state_dir / "mlflow-artifacts"

    @property
    def zenml_artifacts_dir(self) -> Path:
        return self.state_dir / "zenml-artifacts"

    @property
    def rendered_stack_file(self) -> Path:
        return self.state_dir / RENDERED_STACK_FILE

    @property
    def api_key_file(self) -> Path:
        return self.state_dir / API_KEY_FILE

    def remembered(self) -> dict[str, Any]:
        """What ``up`` writes to the state file: every setting but the state dir and the passwords."""
        data = asdict(self)
        for key in ("state_dir", *PASSWORD_VARIABLES):
            data.pop(key)
        return data


def zenml_store_url(settings: Settings, password: str) -> str:
    """The ZenML server's SQL store: MariaDB/MySQL as the server's own database user."""
    user = urllib.parse.quote(settings.zenml_db_user, safe="")
    secret = urllib.parse.quote(password, safe="")
    return f"mysql://{user}:{secret}@{LOOPBACK}:{settings.mariadb_port}/{settings.zenml_db}"


def redact(url: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host`` for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


# --------------------------------------------------------------------------- settings from the CLI
def build_parser() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    # Defaults are None: an option not given falls back to what `up` remembered, then to Settings' default.
    options.add_argument(
        "--state-dir",
        type=Path,
        help="PID files, logs, artifacts, passwords and the API key (default: .production-local in the project)",
    )
    options.add_argument("--mlflow-port", type=int, help="MLflow tracking server port on 127.0.0.1 (default: 5000)")
    options.add_argument("--zenml-port", type=int, help="ZenML server port on 127.0.0.1 (default: 8237)")
    options.add_argument("--postgres-port", type=int, help="PostgreSQL port on 127.0.0.1 (default: 5432)")
    options.add_argument(
        "--postgres-user",
        help="PostgreSQL user that may create databases (default: postgres; password: "
        "$PRODUCTION_LOCAL_POSTGRES_PASSWORD, empty for trust auth)",
    )
    options.add_argument("--mlflow-db", help="PostgreSQL database of the MLflow server (default: tabular_mlops_mlflow)")
    options.add_argument("--mariadb-port", type=int, help="MariaDB/MySQL port on 127.0.0.1 (default: 3306)")
    options.add_argument(
        "--mariadb-user",
        help="MariaDB user that may create databases and users (default: root; password: "
        "$PRODUCTION_LOCAL_MARIADB_PASSWORD, empty by default)",
    )
    options.add_argument("--zenml-db", help="MariaDB database of the ZenML server (default: tabular_mlops_zenml)")
    options.add_argument(
        "--zenml-db-user",
        help="MariaDB user the ZenML server connects as, created with a generated password "
        "(default: tabular_mlops_zenml)",
    )
    options.add_argument("--mlflow-workers", type=int, help="worker processes of the MLflow server (default: 1)")
    options.add_argument("--timeout", type=float, dest="timeout_s", help="seconds to wait for health (default: 180)")

    parser = argparse.ArgumentParser(
        prog="python -m stacks.production_local",
        description="Bring up, inspect and tear down the services of stacks/production-local.yaml on 127.0.0.1: "
        "an MLflow tracking server on PostgreSQL and a ZenML server on MariaDB/MySQL.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser(
        "up",
        parents=[options],
        help="create the databases if missing, start both servers, wait for health, create an API key",
        description="Create the databases (and the ZenML server's database user) if missing, start the MLflow and "
        "ZenML servers on 127.0.0.1, wait until both answer /health, create a ZenML service account API key and "
        "write the stack file filled in for this state dir. Idempotent: running services are left alone.",
    )
    p = sub.add_parser(
        "login",
        parents=[options],
        help="zenml login to the ZenML server with the API key (non-interactive)",
        description="Run `zenml login http://127.0.0.1:PORT --api-key` with the key `up` created. It changes the "
        "ZenML client configuration of this environment ($ZENML_CONFIG_PATH or the user's default).",
    )
    p.add_argument("--print-key", action="store_true", help="only print the API key, do not log in")
    p = sub.add_parser(
        "render",
        parents=[options],
        help="write stacks/production-local.yaml filled in for these ports and paths",
        description="Write stacks/production-local.yaml with the MLflow URI and the artifact path of this state dir, "
        "for `zenml stack import production-local -f FILE`.",
    )
    p.add_argument("--out", type=Path, help="file to write (default: STATE_DIR/production-local.yaml)")
    p = sub.add_parser(
        "status",
        parents=[options],
        help="health of both servers and both databases (exit code 1 unless all are up)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = sub.add_parser(
        "down",
        parents=[options],
        help="stop both servers (idempotent)",
        description="Stop both servers. The databases and the state dir are kept unless --purge is given.",
    )
    p.add_argument(
        "--purge",
        action="store_true",
        help="also drop both databases and the ZenML database user, and delete the state dir",
    )
    return parser


def settings_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    """CLI options beat what ``up`` remembered in the state dir, which beats the defaults."""
    environ = os.environ if environ is None else environ
    state_dir = Path(args.state_dir or PROJECT_ROOT / ".production-local").expanduser().resolve()
    values: dict[str, Any] = dict(read_state(state_dir).get("settings", {}))
    names = {f.name for f in fields(Settings)} - {"state_dir", *PASSWORD_VARIABLES}
    values = {k: v for k, v in values.items() if k in names}
    for name in names:
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    for name, variable in PASSWORD_VARIABLES.items():
        values[name] = environ.get(variable, "")
    return Settings(state_dir=state_dir, **values)


def read_state(state_dir: Path) -> dict[str, Any]:
    path = state_dir / STATE_FILE
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise ProductionLocalError(f"{path} is not valid JSON ({exc}); delete it and run `up` again.") from exc


# --------------------------------------------------------------------------- the stack file
def render_stack(template: Mapping[str, Any], mlflow_uri: str, artifact_path: Path | str) -> dict[str, Any]:
    """A copy of the stack file's content pointing at ``mlflow_uri`` and ``artifact_path``.

    ``environment_overrides`` is dropped: the values are filled in, nothing is left to override.
    """
    if not Path(artifact_path).is_absolute():
        raise ProductionLocalError(f"The artifact store path '{artifact_path}' must be absolute.")
    data = copy.deepcopy(dict(template))
    data.pop(OVERRIDES_KEY, None)
    try:
        set_value(data, "artifact_store.path", str(artifact_path))
        set_value(data, "experiment_tracker.tracking_uri", mlflow_uri)
    except ConfigError as exc:
        raise ProductionLocalError(
            f"The stack file has no local artifact store or MLflow experiment tracker to fill in ({exc}); "
            f"compare it with {STACK_TEMPLATE}."
        ) from exc
    return data


def write_rendered_stack(settings: Settings, out: Path | None = None, template: Path = STACK_TEMPLATE) -> Path:
    """Write the stack file filled in for ``settings``; return its path."""
    data = render_stack(
        yaml.safe_load(template.read_text(encoding="utf-8")), settings.mlflow_url, settings.zenml_artifacts_dir
    )
    out = (out or settings.rendered_stack_file).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# {template.name} filled in by `python -m stacks.production_local` for the state dir\n"
        f"# {settings.state_dir}: MLflow at {settings.mlflow_url}, ZenML server at {settings.zenml_url}.\n"
        f"# Import it after `python -m stacks.production_local login`:\n"
        f"#   zenml stack import {data['stack_name']} -f {out}\n"
    )
    out.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


# --------------------------------------------------------------------------- databases
def _sentence(exc: BaseException) -> str:
    """The driver's message on one line, ending like a sentence."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if text.endswith((".", "?", "!")) else f"{text}."


def postgres_unreachable(settings: Settings, exc: BaseException) -> ProductionLocalError:
    return ProductionLocalError(
        f"PostgreSQL is not reachable at {LOOPBACK}:{settings.postgres_port} as user '{settings.postgres_user}': "
        f"{_sentence(exc)} The MLflow tracking server keeps its runs and model registry there (database "
        f"'{settings.mlflow_db}'). Fix: start PostgreSQL (`sudo service postgresql start`; check with "
        f"`pg_isready -h {LOOPBACK} -p {settings.postgres_port}`), or give the right --postgres-port / "
        "--postgres-user (password in $PRODUCTION_LOCAL_POSTGRES_PASSWORD)."
    )


def mariadb_unreachable(settings: Settings, exc: BaseException) -> ProductionLocalError:
    return ProductionLocalError(
        f"MariaDB/MySQL is not reachable at {LOOPBACK}:{settings.mariadb_port} as user '{settings.mariadb_user}': "
        f"{_sentence(exc)} The ZenML server keeps its store there (database '{settings.zenml_db}'). Fix: start "
        f"MariaDB (`sudo service mariadb start`; check with `mysqladmin -h {LOOPBACK} -P {settings.mariadb_port} "
        f"-u {settings.mariadb_user} ping`), or give the right --mariadb-port / --mariadb-user (password in "
        "$PRODUCTION_LOCAL_MARIADB_PASSWORD)."
    )


def _postgres(settings: Settings, timeout_s: int = 5) -> Any:
    try:
        import psycopg2
    except ImportError as exc:
        raise ProductionLocalError(
            "psycopg2 is not installed: `pip install -e '.[production-local]'` (the MLflow server needs it too)."
        ) from exc
    try:
        connection = psycopg2.connect(
            host=LOOPBACK,
            port=settings.postgres_port,
            user=settings.postgres_user,
            password=settings.postgres_password or None,
            dbname="postgres",
            connect_timeout=timeout_s,
        )
    except psycopg2.Error as exc:
        raise postgres_unreachable(settings, exc) from exc
    connection.autocommit = True
    return connection


def _mariadb(settings: Settings, timeout_s: int = 5) -> Any:
    try:
        import pymysql
    except ImportError as exc:
        raise ProductionLocalError(
            "pymysql is not installed: `pip install -e '.[production-local]'` (the ZenML server needs it too)."
        ) from exc
    try:
        return pymysql.connect(
            host=LOOPBACK,
            port=settings.mariadb_port,
            user=settings.mariadb_user,
            password=settings.mariadb_password,
            connect_timeout=timeout_s,
            autocommit=True,
        )
    except pymysql.MySQLError as exc:
        raise mariadb_unreachable(settings, exc) from exc


def ensure_postgres_database(settings: Settings) -> bool:
    """Create the MLflow database unless it exists; True when it was created."""
    connection = _postgres(settings)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (settings.mlflow_db,))
            if cursor.fetchone():
                return False
            cursor.execute(f'CREATE DATABASE "{settings.mlflow_db}"')
            return True
    finally:
        connection.close()


def ensure_mariadb_database(settings: Settings, user_password: str) -> bool:
    """Create the ZenML database unless it exists, and its user with ``user_password``; True when created."""
    connection = _mariadb(settings)
    user = f"'{settings.zenml_db_user}'@'{LOOPBACK}'"
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (settings.zenml_db,))
            created = cursor.fetchone() is None
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{settings.zenml_db}`")
            cursor.execute(f"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY %s", (user_password,))
            cursor.execute(f"ALTER USER {user} IDENTIFIED BY %s", (user_password,))
            cursor.execute(f"GRANT ALL PRIVILEGES ON `{settings.zenml_db}`.* TO {user}")
            return created
    finally:
        connection.close()


def drop_databases(settings: Settings, say: Say) -> None:
    """Drop the MLflow database, the ZenML database and its user (each if it exists)."""
    connection = _postgres(settings)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{settings.mlflow_db}" WITH (FORCE)')
    finally:
        connection.close()
    say(f"PostgreSQL: dropped database '{settings.mlflow_db}'")
    connection = _mariadb(settings)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{settings.zenml_db}`")
            cursor.execute(f"DROP USER IF EXISTS '{settings.zenml_db_user}'@'{LOOPBACK}'")
    finally:
        connection.close()
    say(f"MariaDB: dropped database '{settings.zenml_db}' and user '{settings.zenml_db_user}'")


def database_status(settings: Settings) -> dict[str, dict[str, Any]]:
    """Whether each database server answers and each database exists (errors as text, never raised)."""
    result: dict[str, dict[str, Any]] = {}
    try:
        connection = _postgres(settings, timeout_s=3)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (settings.mlflow_db,))
            exists = cursor.fetchone() is not None
        connection.close()
        result["postgresql"] = {"reachable": True, "database": settings.mlflow_db, "exists": exists}
    except ProductionLocalError as exc:
        result["postgresql"] = {"reachable": False, "database": settings.mlflow_db, "error": str(exc)}
    try:
        connection = _mariadb(settings, timeout_s=3)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (settings.zenml_db,))
            exists = cursor.fetchone() is not None
        connection.close()
        result["mariadb"] = {"reachable": True, "database": settings.zenml_db, "exists": exists}
    except ProductionLocalError as exc:
        result["mariadb"] = {"reachable": False, "database": settings.zenml_db, "error": str(exc)}
    return result


# --------------------------------------------------------------------------- secrets in the state dir
def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def load_secrets(state_dir: Path) -> dict[str, str]:
    """The generated passwords and JWT key of this state dir, created on first use (file mode 0600)."""
    path = state_dir / SECRETS_FILE
    current: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    wanted = {
        "zenml_db_password": lambda: secrets.token_hex(16),
        "zenml_admin_password": lambda: secrets.token_urlsafe(18),
        "zenml_jwt_secret_key": lambda: secrets.token_hex(32),
    }
    missing = {k: make() for k, make in wanted.items() if not current.get(k)}
    if missing:
        current.update(missing)
        _write_private(path, json.dumps(current, indent=2))
    return current


def prepare_state_dir(state_dir: Path) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    ignore = state_dir / ".gitignore"
    if not ignore.exists():  # never committed, even inside the project
        ignore.write_text("*\n", encoding="utf-8")
    (state_dir / "logs").mkdir(exist_ok=True)


# --------------------------------------------------------------------------- processes
@dataclass(frozen=True)
class Service:
    key: str  # mlflow | zenml
    title: str
    port: int
    url: str
    marker: str  # a word of the process' command line, to tell our process from a recycled PID
    port_option: str
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.key}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "logs" / f"{self.key}.log"

    @property
    def health_url(self) -> str:
        return f"{self.url}/health"


def services(settings: Settings) -> tuple[Service, Service]:
    mlflow = Service(
        key="mlflow",
        title="MLflow tracking server",
        port=settings.mlflow_port,
        url=settings.mlflow_url,
        marker="mlflow",
        port_option="--mlflow-port",
        state_dir=settings.state_dir,
    )
    zenml = Service(
        key="zenml",
        title="ZenML server",
        port=settings.zenml_port,
        url=settings.zenml_url,
        marker="zen_server_api",
        port_option="--zenml-port",
        state_dir=settings.state_dir,
    )
    return mlflow, zenml


def mlflow_command(settings: Settings, python: str = sys.executable) -> list[str]:
    return [
        python, "-m", "mlflow", "server",
        "--backend-store-uri", settings.mlflow_backend_uri,
        "--serve-artifacts",
        "--artifacts-destination", str(settings.mlflow_artifacts_dir),
        "--host", LOOPBACK,
        "--port", str(settings.mlflow_port),
        "--workers", str(settings.mlflow_workers),
    ]  # fmt: skip


def zenml_command(settings: Settings, python: str = sys.executable) -> list[str]:
    return [
        python, "-m", "uvicorn", "zenml.zen_server.zen_server_api:app",
        "--host", LOOPBACK,
        "--port", str(settings.zenml_port),
        "--no-server-header",
        "--log-level", "info",
    ]  # fmt: skip


def clean_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without MLflow, ZenML and coverage settings: a server configures itself."""
    prefixes = ("MLFLOW_", "ZENML_", "COVERAGE_")
    return {k: v for k, v in environ.items() if not k.startswith(prefixes)}


def mlflow_environment(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    env = clean_environment(environ)
    env.pop("PGPASSWORD", None)
    if settings.postgres_password:
        env["PGPASSWORD"] = settings.postgres_password
    return env


def zenml_environment(settings: Settings, secret: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """ZenML server settings (see zenml/config/server_config.py: ZENML_SERVER_<FIELD>)."""
    server_dir = settings.state_dir / "zenml-server"
    env = clean_environment(environ)
    env.update(
        {
            "ZENML_SERVER": "true",
            "ZENML_STORE_URL": zenml_store_url(settings, secret["zenml_db_password"]),
            # The server's own config dir, and an empty repository path: a `.zen` repository in a parent
            # directory of the server's working dir broke API-key logins after a restart.
            "ZENML_CONFIG_PATH": str(server_dir / "config"),
            "ZENML_REPOSITORY_PATH": str(server_dir / "no-repository"),
            "ZENML_LOCAL_STORES_PATH": str(server_dir / "local_stores"),
            "ZENML_ANALYTICS_OPT_IN": "false",
            "ZENML_ENABLE_RICH_TRACEBACK": "false",
            "ZENML_LOGGING_COLORS_DISABLED": "true",
            "ZENML_SERVER_DEPLOYMENT_TYPE": "other",
            "ZENML_SERVER_SERVER_URL": settings.zenml_url,
            "ZENML_SERVER_DASHBOARD_URL": settings.zenml_url,
            "ZENML_SERVER_AUTH_SCHEME": "OAUTH2_PASSWORD_BEARER",
            # Activate on first start with this admin (only then: the password lives in the database after).
            "ZENML_SERVER_AUTO_ACTIVATE": "true",
            "ZENML_DEFAULT_USER_NAME": "admin",
            "ZENML_DEFAULT_USER_PASSWORD": secret["zenml_admin_password"],
            # A fixed key keeps issued tokens valid across restarts.
            "ZENML_SERVER_JWT_SECRET_KEY": secret["zenml_jwt_secret_key"],
            # The artifact store is a local directory on this machine: let the dashboard read it.
            "ZENML_SERVER_ALLOW_LOCAL_FILE_ACCESS": "true",
            "ZENML_SERVER_DISPLAY_UPDATES": "false",
            "ZENML_SERVER_DISPLAY_ANNOUNCEMENTS": "false",
        }
    )
    for directory in ("config", "no-repository", "local_stores"):
        (server_dir / directory).mkdir(parents=True, exist_ok=True)
    return env


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # reap it when it is our own child
        if finished == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.is_file():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return True
    return True


def running_pid(service: Service) -> int | None:
    """The PID of the service's process when its PID file names a live process of that service."""
    try:
        pid = int(service.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not _alive(pid):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.is_file():
        try:
            if service.marker not in cmdline.read_bytes().decode(errors="replace"):
                return None  # the PID was recycled by another program
        except OSError:
            return None
    return pid


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """True when something listens on host:port (binding as a server would, with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def port_taken_error(service: Service) -> ProductionLocalError:
    return ProductionLocalError(
        f"{service.title}: port {LOOPBACK}:{service.port} is already in use by another process (see "
        f"`ss -ltnp 'sport = :{service.port}'`). Fix: stop that process, or choose a free port with "
        f"`up {service.port_option} N`."
    )


def healthy(url: str, timeout_s: float = 3.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def start_service(service: Service, command: Sequence[str], env: Mapping[str, str]) -> int:
    """Start ``command`` in its own session (its whole process group is stopped later); return its PID."""
    service.log_file.parent.mkdir(parents=True, exist_ok=True)
    with service.log_file.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {redact(' '.join(command))}\n".encode())
        log.flush()
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=service.state_dir,
            start_new_session=True,
        )
    service.pid_file.write_text(f"{process.pid}\n", encoding="utf-8")
    return process.pid


def wait_healthy(service: Service, pid: int, timeout_s: float, say: Say, started: float | None = None) -> float:
    """Poll the service's /health until it answers 200; seconds it took. Fails early when the process dies."""
    started = time.monotonic() if started is None else started
    deadline = started + timeout_s
    next_report = time.monotonic() + 5
    while True:
        if healthy(service.health_url, timeout_s=2):
            return time.monotonic() - started
        if not _alive(pid):
            raise ProductionLocalError(
                f"{service.title} (port {service.port}) exited during start. Last lines of {service.log_file}:\n"
                f"{log_tail(service.log_file)}\nFix what the log says, then run `up` again."
            )
        now = time.monotonic()
        if now > deadline:
            raise ProductionLocalError(
                f"{service.title} did not answer {service.health_url} within {timeout_s:.0f} s (PID {pid} still "
                f"runs). Last lines of {service.log_file}:\n{log_tail(service.log_file)}\nFix: look at the log; "
                "a slow first start may need --timeout; `down` stops it."
            )
        if now >= next_report:
            say(f"  waiting for the {service.title} on {service.url} ... {now - started:.0f} s")
            next_report = now + 5
        time.sleep(0.3)


def stop_service(service: Service, say: Say, timeout_s: float = 20.0) -> bool:
    """SIGTERM the service's process group, SIGKILL it after ``timeout_s``; False when it was not running."""
    pid = running_pid(service)
    if pid is None:
        service.pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (_alive(pid) or process_group_alive(pid)):
        time.sleep(0.2)
    if _alive(pid) or process_group_alive(pid):
        say(f"{service.title}: still running after {timeout_s:.0f} s, killing process group {pid}")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        time.sleep(0.5)
        _alive(pid)  # reap
    service.pid_file.unlink(missing_ok=True)
    return True


def process_group_alive(pgid: int) -> bool:
    """True while a process of the group is alive (zombies waiting for their parent do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Only zombies left? /proc tells; without /proc assume alive.
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields_ = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields_) > 3 and fields_[3] == str(pgid) and fields_[0] != "Z":
            return True
    return False


# --------------------------------------------------------------------------- ZenML server REST
def _request(
    method: str,
    url: str,
    *,
    form: Mapping[str, str] | None = None,
    body: Mapping[str, Any] | None = None,
    token: str | None = None,
    timeout_s: float = 30.0,
) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    data: bytes | None = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status, raw = int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        status, raw = int(exc.code), exc.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def zenml_token(zenml_url: str, password: str, username: str | None = None) -> str | None:
    """An access token for a user (username + password) or a service account (API key as password)."""
    form = {"password": password}
    if username:
        form["username"] = username
    status, payload = _request("POST", f"{zenml_url}/api/v1/login", form=form)
    if status == 200 and isinstance(payload, dict) and payload.get("access_token"):
        return str(payload["access_token"])
    return None


def ensure_api_key(settings: Settings, secret: Mapping[str, str], say: Say) -> str:
    """The API key of the ``production-local`` service account: the saved one if it still works, else a new one."""
    if settings.api_key_file.is_file():
        key = settings.api_key_file.read_text(encoding="utf-8").strip()
        if key and zenml_token(settings.zenml_url, key):
            return key
    admin = zenml_token(settings.zenml_url, secret["zenml_admin_password"], username="admin")
    if admin is None:
        raise ProductionLocalError(
            f"ZenML server: the admin user cannot log in with the password in {settings.state_dir / SECRETS_FILE}: "
            f"database '{settings.zenml_db}' was initialised by another state dir. Fix: `python -m "
            "stacks.production_local down --purge` (drops both databases) and `up` again, or use another --zenml-db."
        )
    base = f"{settings.zenml_url}/api/v1/service_accounts"
    status, account = _request("GET", f"{base}/{SERVICE_ACCOUNT}", token=admin)
    if status == 404:
        status, account = _request(
            "POST",
            base,
            body={"name": SERVICE_ACCOUNT, "description": "python -m stacks.production_local", "active": True},
            token=admin,
        )
    if status != 200 or not isinstance(account, dict):
        raise ProductionLocalError(
            f"ZenML server: cannot get or create service account '{SERVICE_ACCOUNT}' "
            f"(HTTP {status}: {account}); see {settings.state_dir / 'logs' / 'zenml.log'}."
        )
    name = f"key-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    status, created = _request(
        "POST", f"{base}/{account['id']}/api_keys", body={"name": name, "description": "production-local"}, token=admin
    )
    new_key = created.get("body", {}).get("key") if isinstance(created, dict) else None
    if status != 200 or not new_key:
        raise ProductionLocalError(f"ZenML server: cannot create an API key (HTTP {status}: {created}).")
    _write_private(settings.api_key_file, f"{new_key}\n")
    say(f"ZenML server: API key '{name}' of service account '{SERVICE_ACCOUNT}' written to {settings.api_key_file}")
    return str(new_key)


# --------------------------------------------------------------------------- commands
def up(settings: Settings, say: Say = print, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Databases, both servers healthy, an API key and the rendered stack file; idempotent."""
    environ = os.environ if environ is None else environ
    began = time.monotonic()
    prepare_state_dir(settings.state_dir)
    secret = load_secrets(settings.state_dir)
    mlflow_service, zenml_service = services(settings)

    # Every check before the first change: both databases answer, both ports are ours or free.
    remembered = read_state(settings.state_dir).get("settings", {})
    running: dict[str, int] = {}
    for service in (mlflow_service, zenml_service):
        pid = running_pid(service)
        key = f"{service.key}_port"
        if pid is not None and remembered.get(key) not in (None, service.port):
            raise ProductionLocalError(
                f"{service.title} already runs from {settings.state_dir} on port {remembered[key]} (PID {pid}); "
                f"run `python -m stacks.production_local down` first to move it to port {service.port}."
            )
        if pid is None and port_in_use(service.port):
            raise port_taken_error(service)
        if pid is not None:
            running[service.key] = pid
    _postgres(settings).close()
    _mariadb(settings).close()

    created = ensure_postgres_database(settings)
    say(
        f"PostgreSQL {LOOPBACK}:{settings.postgres_port}: database '{settings.mlflow_db}' "
        f"{'created' if created else 'exists'}"
    )
    created = ensure_mariadb_database(settings, secret["zenml_db_password"])
    say(
        f"MariaDB {LOOPBACK}:{settings.mariadb_port}: database '{settings.zenml_db}' "
        f"{'created' if created else 'exists'}, user '{settings.zenml_db_user}' ready"
    )
    settings.mlflow_artifacts_dir.mkdir(parents=True, exist_ok=True)
    settings.zenml_artifacts_dir.mkdir(parents=True, exist_ok=True)
    state = {"settings": settings.remembered(), "project_root": str(PROJECT_ROOT)}
    (settings.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")

    commands = {
        "mlflow": (mlflow_command(settings), mlflow_environment(settings, environ)),
        "zenml": (zenml_command(settings), zenml_environment(settings, secret, environ)),
    }
    started: dict[str, int] = {}
    timings: dict[str, float] = {}
    try:
        pids: dict[str, int] = {}
        for service in (mlflow_service, zenml_service):
            if service.key in running:
                pids[service.key] = running[service.key]
                say(f"{service.title}: already running on {service.url} (PID {running[service.key]})")
                continue
            command, env = commands[service.key]
            pids[service.key] = started[service.key] = start_service(service, command, env)
            say(f"{service.title}: starting on {service.url} (PID {pids[service.key]}, log {service.log_file})")
        for service in (mlflow_service, zenml_service):
            timings[service.key] = wait_healthy(service, pids[service.key], settings.timeout_s, say, began)
            say(f"{service.title}: healthy on {service.url} after {timings[service.key]:.1f} s")
        key = ensure_api_key(settings, secret, say)
    except BaseException:
        for service in (mlflow_service, zenml_service):
            if service.key in started:
                stop_service(service, say)
        raise
    stack_file = write_rendered_stack(settings)
    elapsed = time.monotonic() - began
    say(f"Up in {elapsed:.1f} s. Stack file for these services: {stack_file}")
    say("Next:")
    state_option = _state_option(settings)
    say(f"  python -m stacks.production_local login{state_option}")
    say(f"  zenml stack import {STACK_NAME} -f {stack_file}    # first time only")
    say(f"  zenml stack set {STACK_NAME}")
    say(
        f"  MLflow UI: {settings.mlflow_url}    ZenML dashboard: {settings.zenml_url} (user admin, password: "
        f"zenml_admin_password in {settings.state_dir / SECRETS_FILE})"
    )
    return {
        "mlflow_url": settings.mlflow_url,
        "zenml_url": settings.zenml_url,
        "api_key_file": str(settings.api_key_file),
        "api_key": key,
        "stack_file": str(stack_file),
        "seconds": round(elapsed, 1),
        "started": sorted(started),
    }


def _state_option(settings: Settings) -> str:
    default = (PROJECT_ROOT / ".production-local").resolve()
    return "" if settings.state_dir == default else f" --state-dir {settings.state_dir}"


def zenml_executable() -> str:
    candidate = Path(sys.executable).parent / "zenml"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("zenml")
    if not found:
        raise ProductionLocalError("The `zenml` command is not installed in this environment: `pip install -e .`.")
    return found


def login(settings: Settings, say: Say = print, environ: Mapping[str, str] | None = None) -> None:
    """``zenml login URL --api-key`` with the saved key (read from stdin, so nothing is prompted)."""
    environ = os.environ if environ is None else environ
    if not healthy(f"{settings.zenml_url}/health"):
        raise ProductionLocalError(
            f"ZenML server: nothing answers {settings.zenml_url}/health. Fix: `python -m stacks.production_local up"
            f"{_state_option(settings)}` (log: {settings.state_dir / 'logs' / 'zenml.log'})."
        )
    if not settings.api_key_file.is_file():
        raise ProductionLocalError(
            f"No API key in {settings.api_key_file}: run `python -m stacks.production_local up`."
        )
    key = settings.api_key_file.read_text(encoding="utf-8").strip()
    result = subprocess.run(
        [zenml_executable(), "login", settings.zenml_url, "--api-key"],
        input=f"{key}\n",
        capture_output=True,
        text=True,
        timeout=120,
        env={**environ, "ZENML_ANALYTICS_OPT_IN": environ.get("ZENML_ANALYTICS_OPT_IN", "false")},
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).replace(key, "***")
        raise ProductionLocalError(f"`zenml login {settings.zenml_url} --api-key` failed:\n{output[-2000:]}")
    say(f"Logged in to the ZenML server {settings.zenml_url} as service account '{SERVICE_ACCOUNT}'.")


def status(settings: Settings) -> dict[str, Any]:
    """Each server's PID and health, each database's reachability; ``ok`` when all are up."""
    report: dict[str, Any] = {"state_dir": str(settings.state_dir)}
    ok = True
    for service in services(settings):
        pid = running_pid(service)
        is_healthy = healthy(service.health_url)
        ok = ok and is_healthy
        report[service.key] = {
            "url": service.url,
            "pid": pid,
            "healthy": is_healthy,
            "log": str(service.log_file),
        }
    report["databases"] = database_status(settings)
    ok = ok and all(db["reachable"] and db["exists"] for db in report["databases"].values())
    report["ok"] = ok
    return report


def print_status(report: Mapping[str, Any], say: Say = print) -> None:
    for key, title in (("mlflow", "MLflow tracking server"), ("zenml", "ZenML server")):
        item = report[key]
        if item["healthy"]:
            state = f"healthy (PID {item['pid']})" if item["pid"] else "healthy (not started from this state dir)"
        elif item["pid"]:
            state = f"NOT healthy, PID {item['pid']} runs: see {item['log']}"
        else:
            state = "not running"
        say(f"{title:<23} {item['url']:<24} {state}")
    for key, title in (("postgresql", "PostgreSQL"), ("mariadb", "MariaDB")):
        db = report["databases"][key]
        if db["reachable"]:
            state = f"reachable, database '{db['database']}' {'exists' if db['exists'] else 'MISSING (run up)'}"
        else:
            state = f"NOT reachable: {db['error']}"
        say(f"{title:<23} {state}")


def down(settings: Settings, purge: bool = False, say: Say = print) -> None:
    """Stop both servers (nothing to do is fine); with ``purge`` also drop the databases and the state dir."""
    for service in reversed(services(settings)):
        if stop_service(service, say):
            say(f"{service.title}: stopped")
        else:
            say(f"{service.title}: not running")
    if purge:
        drop_databases(settings, say)
        shutil.rmtree(settings.state_dir, ignore_errors=True)
        say(f"Deleted {settings.state_dir}")


def main(argv: Sequence[str] | None = None, say: Say = print) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        if args.command == "up":
            up(settings, say)
        elif args.command == "login":
            if args.print_key:
                if not settings.api_key_file.is_file():
                    raise ProductionLocalError(f"No API key in {settings.api_key_file}: run `up` first.")
                say(settings.api_key_file.read_text(encoding="utf-8").strip())
            else:
                login(settings, say)
        elif args.command == "render":
            say(str(write_rendered_stack(settings, args.out)))
        elif args.command == "status":
            report = status(settings)
            if args.json:
                say(json.dumps(report))
            else:
                print_status(report, say)
            return 0 if report["ok"] else 1
        elif args.command == "down":
            down(settings, purge=args.purge, say=say)
    except ProductionLocalError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _print_flush(text: str) -> None:
    print(text, flush=True)


if __name__ == "__main__":
    sys.exit(main(say=_print_flush))
