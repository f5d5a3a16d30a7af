"""Stack YAML registration against a real (temporary) ZenML store."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stacks.registration import ensure_repository, register_stack, stack_file
from tabular_mlops.errors import ConfigError
from tests.conftest import PROJECT_ROOT


def test_local_stack_registers_idempotently(session_dir: Path) -> None:
    from zenml.client import Client

    root = ensure_repository(PROJECT_ROOT)
    assert root == Path(session_dir / "zenml-repo")  # $ZENML_REPOSITORY_PATH, not the project
    assert register_stack(stack_file("local")) == "local"
    assert register_stack(stack_file("local")) == "local"  # second time: no error, no duplicate
    client = Client()
    assert client.active_stack_model.name == "local"
    assert [s.name for s in client.list_stacks(name="local")] == ["local"]
    components = client.active_stack_model.components
    flavors = {t.value: c[0].flavor_name for t, c in components.items()}
    assert flavors == {
        "orchestrator": "local",
        "artifact_store": "local",
        "experiment_tracker": "mlflow",
        "model_registry": "mlflow",
        "model_deployer": "mlflow",
    }
    assert client.active_stack.experiment_tracker.config.tracking_uri is None


def test_flavor_clash_is_explained(tmp_path: Path) -> None:
    data = yaml.safe_load(stack_file("local").read_text())
    data["stack_name"] = "clash"
    data["components"]["experiment_tracker"][0]["flavor"] = "wandb"
    path = tmp_path / "clash.yaml"
    path.write_text(yaml.safe_dump(data))
    ensure_repository(PROJECT_ROOT)
    register_stack(stack_file("local"), activate=False)
    with pytest.raises(ConfigError, match="'mlflow_tracker' already exists with flavor 'mlflow'"):
        register_stack(path, activate=False)


def test_unknown_stack_lists_available() -> None:
    with pytest.raises(ConfigError, match=r"available stacks: \[.*'local'"):
        register_stack(stack_file("nowhere"))


def test_stack_file_is_zenml_import_format() -> None:
    data = yaml.safe_load(stack_file("local").read_text())
    assert data["stack_name"] == "local"
    for type_name, entries in data["components"].items():
        assert entries[0]["type"] == type_name
