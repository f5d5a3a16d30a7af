"""Register a stack from its YAML file, idempotently, and make it active.

``zenml stack import`` fails when the stack or a component already exists; this does the same
import but creates what is missing, updates what changed and leaves the rest alone, so that
``make run`` can be called any number of times.

A stack file may name environment variables that replace some of its values
(``environment_overrides``, see ``stacks/k8s-seldon.yaml``); ``zenml stack import`` ignores that key
and imports the values written in the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from zenml.client import Client
from zenml.config.global_config import GlobalConfiguration
from zenml.enums import StackComponentType

from stacks.overrides import apply_environment_overrides
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


def render_stack_file(path: Path, output: Path, environ: Mapping[str, str] | None = None) -> str:
    """Write ``path`` with its environment overrides applied, for ``zenml stack import``; return the stack name."""
    data = apply_environment_overrides(read_stack_file(path), environ)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(data["stack_name"])


# The keys a Seldon model deployer's ``secret`` needs for an S3 artifact store (rclone's S3 settings).
SELDON_SECRET_KEYS = {"rclone_config_s3_access_key_id", "rclone_config_s3_secret_access_key"}


def secret_references(data: dict[str, Any]) -> dict[str, set[str]]:
    """The ZenML secrets (and their keys) a stack file refers to: its ``{{secret.key}}`` values and the
    secret named by a Seldon model deployer."""
    from zenml.utils import secret_utils

    found: dict[str, set[str]] = {}
    for entry in (data.get("components") or {}).get("model_deployer") or []:
        name = (entry.get("configuration") or {}).get("secret")
        if entry.get("flavor") == "seldon" and name:
            found.setdefault(str(name), set()).update(SELDON_SECRET_KEYS)

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)
        elif secret_utils.is_secret_reference(value):
            reference = secret_utils.parse_secret_reference(value)
            found.setdefault(reference.name, set()).add(reference.key)

    visit(data.get("components") or {})
    return found


def check_secret_references(data: dict[str, Any]) -> None:
    """Fail with the ``zenml secret create`` command to run when a referenced secret or key is missing.

    ZenML resolves some references while it validates a component (the MLflow tracker's credential
    checks do), so the secrets have to exist before the stack is registered.
    """
    client = Client()
    problems = []
    for name, keys in sorted(secret_references(data).items()):
        try:
            present = set(client.get_secret(name, allow_partial_name_match=False).secret_values)
        except KeyError:
            present = set()
        missing = sorted(keys - present)
        if missing:
            options = " ".join(f"--{key}=..." for key in missing)
            problems.append(f"`zenml secret {'update' if present else 'create'} {name} {options}`")
    if problems:
        raise ConfigError(
            "The stack file refers to ZenML secrets that are missing (its header says what goes in them); "
            "create them first: " + "; ".join(problems)
        )


def _replace_component_configuration(
    component_id: UUID, flavor: str, component_type: StackComponentType, configuration: dict[str, Any]
) -> None:
    """Set a component's configuration to exactly ``configuration``, validated by its flavor.

    ``Client.update_stack_component`` merges into the old configuration and drops keys whose new value
    is None, which breaks flavors with required nullable fields (Seldon's ``secret: null``).
    """
    from zenml.models import ComponentUpdate
    from zenml.stack.utils import validate_stack_component_config

    validated = validate_stack_component_config(
        configuration_dict=configuration, flavor=flavor, component_type=component_type
    )
    if validated is None:
        raise ConfigError(
            f"ZenML could not validate the configuration of the {component_type.value} flavor '{flavor}'."
        )
    update = ComponentUpdate(configuration=validated.model_dump(mode="json", exclude_unset=True))
    Client().zen_store.update_stack_component(component_id=component_id, component_update=update)


def register_stack(path: Path, activate: bool = True, environ: Mapping[str, str] | None = None) -> str:
    """Create or update every component and the stack described in ``path``; return its name.

    ``environ`` (default ``os.environ``) supplies the file's ``environment_overrides``.
    """
    data = apply_environment_overrides(read_stack_file(path), environ)
    check_secret_references(data)
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
                _replace_component_configuration(existing.id, flavor, component_type, configuration)
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
