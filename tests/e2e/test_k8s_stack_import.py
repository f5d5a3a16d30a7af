"""stacks/k8s-seldon.yaml in a temporary ZenML store, through ZenML's real CLI and through `run.py stacks`.

There is no cluster here: the stack is imported, described, exported, activated and validated
offline (ZenML's stack validation only needs a kubeconfig with the configured context, so a fake one
is written), and its secret references are resolved. Every command runs in a subprocess with its own
ZENML_CONFIG_PATH / ZENML_REPOSITORY_PATH / KUBECONFIG and without MLFLOW_* variables, so neither this
process's environment nor its ZenML configuration changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.overrides import OVERRIDES_KEY
from stacks.registration import read_stack_file, stack_file
from tests.conftest import PROJECT_ROOT
from tests.unit.test_k8s_stack import EXPECTED_FLAVORS

pytestmark = pytest.mark.e2e

ZENML = str(Path(sys.executable).parent / "zenml")
K8S_STACK = stack_file("k8s-seldon")
SECRETS = {
    "s3_credentials": {"aws_access_key_id": "test-access-key", "aws_secret_access_key": "test-secret-key"},
    "mlflow_credentials": {"username": "mlflow-user", "password": "mlflow-password"},
    "seldon_s3_credentials": {
        "rclone_config_s3_type": "s3",
        "rclone_config_s3_provider": "Minio",
        "rclone_config_s3_env_auth": "false",
        "rclone_config_s3_access_key_id": "test-access-key",
        "rclone_config_s3_secret_access_key": "test-secret-key",
        "rclone_config_s3_endpoint": "http://minio.minio.svc.cluster.local:9000",
    },
}
OVERRIDES = {
    "K8S_STACK_CONTEXT": "kind-offline",
    "K8S_STACK_NAMESPACE": "pipelines",
    "K8S_STACK_SELDON_NAMESPACE": "models",
    "K8S_STACK_INGRESS_URL": "http://192.0.2.10",
    "K8S_STACK_S3_PATH": "s3://test-bucket/runs",
    "K8S_STACK_S3_ENDPOINT": "http://minio.minio.svc.cluster.local:9000",
    "K8S_STACK_S3_REGION": "eu-west-1",
    "K8S_STACK_MLFLOW_URI": "http://mlflow.mlflow.svc.cluster.local:5000",
    "K8S_STACK_REGISTRY_URI": "ghcr.io/test-owner",
    "K8S_STACK_REGISTRY_SECRET": "ghcr-pull",
}

# Run in the store's environment: activate nothing, validate the active stack offline, resolve its secrets.
VALIDATE = """
import json
from zenml.client import Client
from zenml.integrations.seldon.secret_schemas import SeldonS3SecretSchema

client = Client()
stack = client.active_stack
stack.validate()
deployer = stack.model_deployer
seldon_secret = SeldonS3SecretSchema(**client.get_secret(deployer.config.secret).secret_values)
print(json.dumps({
    "stack": stack.name,
    "s3_key": stack.artifact_store.config.key,
    "s3_secret": stack.artifact_store.config.secret,
    "s3_endpoint": stack.artifact_store.config.client_kwargs["endpoint_url"],
    "mlflow_uri": stack.experiment_tracker.get_tracking_uri(),
    "mlflow_user": stack.experiment_tracker.config.tracking_username,
    "seldon_secret_endpoint": seldon_secret.rclone_config_s3_endpoint,
    "seldon_base_url": deployer.config.base_url,
}))
"""


class Store:
    """A temporary ZenML store and the environment that points subprocesses at it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = root / "repo"
        self.repo.mkdir(parents=True)
        self.kubeconfig = root / "kubeconfig"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "ZENML_", "K8S_STACK_"))}
        self.env.update(
            ZENML_CONFIG_PATH=str(root / "zenml-config"),
            ZENML_REPOSITORY_PATH=str(self.repo),
            ZENML_ANALYTICS_OPT_IN="false",
            ZENML_ENABLE_RICH_TRACEBACK="false",
            AUTO_OPEN_DASHBOARD="false",
            KUBECONFIG=str(self.kubeconfig),
            COLUMNS="200",
        )
        self.write_kubeconfig("tabular-mlops")

    def write_kubeconfig(self, current: str) -> None:
        """A kubeconfig with the file's and the override's contexts (no server behind them)."""
        contexts = ["tabular-mlops", OVERRIDES["K8S_STACK_CONTEXT"]]
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "offline", "cluster": {"server": "https://192.0.2.1:6443"}}],
            "users": [{"name": "offline", "user": {"token": "not-a-token"}}],
            "contexts": [{"name": c, "context": {"cluster": "offline", "user": "offline"}} for c in contexts],
            "current-context": current,
        }
        self.kubeconfig.write_text(yaml.safe_dump(config), encoding="utf-8")

    def run(
        self, *args: str, extra_env: dict[str, str] | None = None, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=self.repo,
            env={**self.env, **(extra_env or {})},
            stdin=subprocess.DEVNULL,  # a ZenML prompt (name clash) aborts instead of waiting
        )
        if ok:
            assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    def zenml(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(ZENML, *args, ok=ok)

    def run_py(self, *args: str, extra_env: dict[str, str] | None = None, ok: bool = True) -> dict[str, Any]:
        result = self.run(sys.executable, str(PROJECT_ROOT / "run.py"), *args, "--json", extra_env=extra_env, ok=ok)
        return dict(json.loads(result.stdout.strip().splitlines()[-1]))

    def export(self, stack: str) -> dict[str, Any]:
        path = self.root / f"{stack}.export.yaml"
        self.zenml("stack", "export", stack, str(path))
        return dict(yaml.safe_load(path.read_text(encoding="utf-8")))

    def validate(self) -> dict[str, Any]:
        result = self.run(sys.executable, "-c", VALIDATE)
        return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _fingerprint() -> dict[str, Any]:
    """This process's environment (less pytest's own phase marker) and its ZenML global configuration file."""
    config = Path(os.environ["ZENML_CONFIG_PATH"]) / "config.yaml"
    digest = hashlib.sha256(config.read_bytes()).hexdigest() if config.is_file() else None
    return {"environ": {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}, "config": digest}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    before = _fingerprint()
    yield Store(tmp_path)
    after = _fingerprint()
    changed = {
        k for k in {*before["environ"], *after["environ"]} if before["environ"].get(k) != after["environ"].get(k)
    }
    assert not changed, f"the test changed this process's environment: {sorted(changed)}"
    assert after["config"] == before["config"], "the test changed this process's ZenML global configuration"


def _configurations(exported: dict[str, Any]) -> dict[str, Any]:
    return {t: entries[0]["configuration"] for t, entries in exported["components"].items()}


def test_run_py_names_the_missing_secrets_and_registers_nothing(store: Store) -> None:
    error = store.run_py("stacks", "--stack", "k8s-seldon", ok=False)["error"]
    for name in SECRETS:
        assert f"zenml secret create {name} " in error
    listed_run = store.zenml("stack", "list")
    listed = listed_run.stdout + listed_run.stderr
    assert "default" in listed
    assert "k8s-seldon" not in listed


def test_k8s_stack_imports_with_zenml_cli_and_run_py(store: Store) -> None:
    store.zenml("init")
    for name, values in SECRETS.items():
        store.zenml("secret", "create", name, *(f"--{key}={value}" for key, value in values.items()))

    # 1. ZenML's own CLI imports the file as it is.
    started = time.perf_counter()
    store.zenml("stack", "import", "k8s-seldon", "-f", str(K8S_STACK))
    print(f"zenml stack import k8s-seldon: {time.perf_counter() - started:.1f} s")
    described_run = store.zenml("stack", "describe", "k8s-seldon")
    described = described_run.stdout + described_run.stderr  # ZenML's rich tables go to stderr
    file_data = read_stack_file(K8S_STACK)
    for entries in file_data["components"].values():
        assert entries[0]["name"] in described
    exported = store.export("k8s-seldon")
    assert {t: e[0]["flavor"] for t, e in exported["components"].items()} == EXPECTED_FLAVORS
    assert _configurations(exported) == {t: e[0]["configuration"] for t, e in file_data["components"].items()}

    # 2. Activated and validated offline; the secret references resolve.
    store.zenml("stack", "set", "k8s-seldon")
    facts = store.validate()
    assert facts["stack"] == "k8s-seldon"
    assert (facts["s3_key"], facts["s3_secret"]) == ("test-access-key", "test-secret-key")
    assert facts["mlflow_user"] == "mlflow-user"
    assert facts["mlflow_uri"] == "https://mlflow.example.com"

    # 3. run.py registers the same file with environment overrides: it updates the components in place
    #    (keeping the Seldon deployer's required `kubernetes_secret_name: null`) and activates the stack.
    assert store.run_py("stacks", "--stack", "k8s-seldon", extra_env=OVERRIDES) == {
        "stack": "k8s-seldon",
        "active": True,
    }
    overridden = _configurations(store.export("k8s-seldon"))
    assert overridden["orchestrator"]["kubernetes_context"] == "kind-offline"
    assert overridden["orchestrator"]["kubernetes_namespace"] == "pipelines"
    assert overridden["orchestrator"]["pod_settings"] == {"image_pull_secrets": ["ghcr-pull"]}
    assert overridden["image_builder"]["kubernetes_context"] == "kind-offline"
    assert overridden["image_builder"]["volumes"][0]["secret"]["secretName"] == "ghcr-pull"
    assert overridden["artifact_store"]["path"] == "s3://test-bucket/runs"
    assert overridden["artifact_store"]["client_kwargs"]["region_name"] == "eu-west-1"
    assert overridden["artifact_store"]["key"] == "{{s3_credentials.aws_access_key_id}}"
    assert overridden["model_deployer"] == {
        "kubernetes_context": "kind-offline",
        "kubernetes_namespace": "models",
        "base_url": "http://192.0.2.10",
        "secret": "seldon_s3_credentials",
        "kubernetes_secret_name": None,
    }
    assert overridden["container_registry"] == {"uri": "ghcr.io/test-owner"}
    store.write_kubeconfig("kind-offline")
    facts = store.validate()
    assert facts["mlflow_uri"] == OVERRIDES["K8S_STACK_MLFLOW_URI"]
    assert facts["s3_endpoint"] == OVERRIDES["K8S_STACK_S3_ENDPOINT"]
    assert facts["seldon_secret_endpoint"] == SECRETS["seldon_s3_credentials"]["rclone_config_s3_endpoint"]
    assert facts["seldon_base_url"] == "http://192.0.2.10"

    # 4. Idempotent: a second registration changes nothing.
    assert store.run_py("stacks", "--stack", "k8s-seldon", extra_env=OVERRIDES)["stack"] == "k8s-seldon"
    assert _configurations(store.export("k8s-seldon")) == overridden

    # 5. --render writes the same values for ZenML's CLI: importing it under another stack name reuses every
    #    component (a component with a different configuration would make the CLI prompt, and abort here).
    rendered = store.root / "rendered.yaml"
    assert store.run_py("stacks", "--stack", "k8s-seldon", "--render", str(rendered), extra_env=OVERRIDES) == {
        "stack_name": "k8s-seldon",
        "rendered": str(rendered),
    }
    assert OVERRIDES_KEY not in yaml.safe_load(rendered.read_text(encoding="utf-8"))
    store.zenml("stack", "import", "k8s-seldon-rendered", "-f", str(rendered))
    assert _configurations(store.export("k8s-seldon-rendered")) == overridden
