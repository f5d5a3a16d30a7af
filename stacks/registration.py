"""Register a stack from its YAML file, idempotently, and make it active.

``zenml stack import`` fails when the stack or a component already exists; this does the same
import but creates what is missing, updates what changed and leaves the rest alone, so that
``make run`` can be called any number of times.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from zenml.client import Client
from zenml.config.global_config import GlobalConfiguration
from zenml.enums import StackComponentType

from tabular_mlops.errors import ConfigError, TabularMLOpsError

STACKS_DIR = Path(__file__).resolve().parent


def ensure_repository(root: Path) -> Path:
    """``zenml init`` in ``root`` (or in $ZENML_REPOSITORY_PATH when set) unless one exists; analytics off."""
    GlobalConfiguration().analytics_opt_in = False
    root = Path(os.environ.get("ZENML_REPOSITORY_PATH") or root)
    if not Client.is_repository_directory(root):
        root.mkdir(parents=True, exist_ok=True)
        Client.initialize(root=root)
    return root


def stack_file(name_or_path: str) -> Path:
    """``local`` -> ``stacks/local.yaml``; a path is taken as it is."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"}:
        return path
    return STACKS_DIR / f"{name_or_path}.yaml"


def read_stack_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        available = sorted(p.stem for p in STACKS_DIR.glob("*.yaml"))
        raise ConfigError(f"Stack file '{path}' does not exist; available stacks: {available}.")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if "stack_name" not in data or "components" not in data:
        raise ConfigError(f"Stack file '{path}' needs 'stack_name' and 'components' (ZenML's export format).")
    return dict(data)


def register_stack(path: Path, activate: bool = True) -> str:
    """Create or update every component and the stack described in ``path``; return its name."""
    data = read_stack_file(path)
    client = Client()
    components: dict[StackComponentType, str] = {}
    for type_name, entries in data["components"].items():
        component_type = StackComponentType(type_name)
        if not entries:
            continue
        entry = entries[0]
        name, flavor = entry["name"], entry["flavor"]
        configuration = dict(entry.get("configuration") or {})
        try:
            existing = client.get_stack_component(component_type, name, allow_name_prefix_match=False)
        except KeyError:
            client.create_stack_component(
                name=name, flavor=flavor, component_type=component_type, configuration=configuration
            )
        else:
            if existing.flavor_name != flavor:
                raise ConfigError(
                    f"A {type_name} named '{name}' already exists with flavor '{existing.flavor_name}', "
                    f"but '{path}' asks for flavor '{flavor}'. Rename one of them or delete the old one "
                    f"with `zenml {type_name.replace('_', '-')} delete {name}`."
                )
            if dict(existing.configuration) != configuration:
                client.update_stack_component(name, component_type, configuration=configuration)
        components[component_type] = name
    stack_name = str(data["stack_name"])
    try:
        client.get_stack(stack_name, allow_name_prefix_match=False)
    except KeyError:
        client.create_stack(name=stack_name, components=components)
    else:
        client.update_stack(stack_name, component_updates=components)
    if activate:
        client.activate_stack(stack_name)
    return stack_name


def configure_mlflow_from_active_stack() -> str:
    """Point the MLflow client at the active stack's tracking store; return the tracking URI."""
    from zenml.integrations.mlflow.experiment_trackers import MLFlowExperimentTracker

    tracker = Client().active_stack.experiment_tracker
    if not isinstance(tracker, MLFlowExperimentTracker):
        raise TabularMLOpsError(
            "The active ZenML stack has no MLflow experiment tracker, so the model registry "
            "cannot be reached. Run `python run.py stacks` (or `zenml stack set local`)."
        )
    tracker.configure_mlflow()
    return tracker.get_tracking_uri()
