"""The Kubernetes + Seldon stack file and the DockerSettings its pipelines build their images with.

Offline checks only: the file's environment overrides, its secrets and header, the DockerSettings
of the run configurations against ZenML's model and pyproject.toml's pins, and the Dockerfile ZenML
would generate from them. Importing the stack into a real store: tests/e2e/test_k8s_stack_import.py.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stacks.overrides import OVERRIDES_KEY, apply_environment_overrides
from stacks.registration import (
    SELDON_SECRET_KEYS,
    read_stack_file,
    render_stack_file,
    secret_references,
    stack_file,
)
from tabular_mlops.errors import ConfigError
from tests.conftest import PROJECT_ROOT

K8S_STACK = stack_file("k8s-seldon")
DOCKER_CONFIG = PROJECT_ROOT / "configs" / "docker.yaml"
EXPECTED_FLAVORS = {
    "orchestrator": "kubernetes",
    "artifact_store": "s3",
    "experiment_tracker": "mlflow",
    "model_registry": "mlflow",
    "model_deployer": "seldon",
    "container_registry": "default",
    "image_builder": "kaniko",
}


def _lookup(data: dict[str, Any], target: str) -> Any:
    component_type, *keys = target.split(".")
    node: Any = data["components"][component_type][0]["configuration"]
    for key in keys:
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = [*project["dependencies"], *project["optional-dependencies"]["kubernetes"]]
    return {canonicalize_name(Requirement(pin).name): str(Requirement(pin)) for pin in pins}


# --------------------------------------------------------------------------- the stack file
def test_k8s_stack_has_every_component_with_its_flavor() -> None:
    data = read_stack_file(K8S_STACK)
    assert data["stack_name"] == "k8s-seldon"
    assert data["zenml_version"] == "0.98.0"
    flavors = {}
    for type_name, entries in data["components"].items():
        assert len(entries) == 1 and entries[0]["type"] == type_name
        flavors[type_name] = entries[0]["flavor"]
    assert flavors == EXPECTED_FLAVORS
    deployer = data["components"]["model_deployer"][0]["configuration"]
    # both are required (no default) by SeldonModelDeployerConfig
    assert "secret" in deployer and "kubernetes_secret_name" in deployer


def test_k8s_stack_configurations_are_valid_for_the_installed_flavors() -> None:
    """Every key exists in the flavor's config class and the values pass its validators (references unresolved)."""
    from zenml.integrations.kaniko.flavors import KanikoImageBuilderFlavor
    from zenml.integrations.kubernetes.flavors import KubernetesOrchestratorFlavor
    from zenml.integrations.mlflow.flavors import MLFlowExperimentTrackerFlavor, MLFlowModelRegistryFlavor
    from zenml.integrations.s3.flavors import S3ArtifactStoreFlavor
    from zenml.integrations.seldon.flavors import SeldonModelDeployerFlavor

    flavor_classes = {
        "orchestrator": KubernetesOrchestratorFlavor,
        "artifact_store": S3ArtifactStoreFlavor,
        "model_registry": MLFlowModelRegistryFlavor,
        "model_deployer": SeldonModelDeployerFlavor,
        "image_builder": KanikoImageBuilderFlavor,
    }
    data = read_stack_file(K8S_STACK)
    for type_name, flavor_class in flavor_classes.items():
        configuration = data["components"][type_name][0]["configuration"]
        config_class = flavor_class().config_class
        assert set(configuration) <= set(config_class.model_fields), type_name
        config_class(**configuration)
    # the tracker's model validators read the credentials: check the keys, and the values with plain strings
    tracker = data["components"]["experiment_tracker"][0]["configuration"]
    config_class = MLFlowExperimentTrackerFlavor().config_class
    assert set(tracker) <= set(config_class.model_fields)
    config_class(**{**tracker, "tracking_username": "user", "tracking_password": "password"})


def test_k8s_stack_secrets_are_references_and_documented() -> None:
    data = read_stack_file(K8S_STACK)
    references = secret_references(data)
    assert references == {
        "s3_credentials": {"aws_access_key_id", "aws_secret_access_key"},
        "mlflow_credentials": {"username", "password"},
        "seldon_s3_credentials": SELDON_SECRET_KEYS,
    }
    header = K8S_STACK.read_text(encoding="utf-8").split("\nstack_name:")[0]
    for name, keys in references.items():
        command = next(line for line in header.splitlines() if f"zenml secret create {name} " in line)
        block = header[header.index(command) :].split("\n#\n")[0]
        for key in keys:
            assert f"--{key}=" in block, f"the header's `zenml secret create {name}` lacks --{key}"
    artifact_store = data["components"]["artifact_store"][0]["configuration"]
    assert artifact_store["key"] == "{{s3_credentials.aws_access_key_id}}"


def test_every_override_is_documented_and_hits_an_existing_value() -> None:
    data = read_stack_file(K8S_STACK)
    header = K8S_STACK.read_text(encoding="utf-8").split("\nstack_name:")[0]
    overrides = data[OVERRIDES_KEY]
    environ = {variable: f"<{variable}>" for variable in overrides}
    applied = apply_environment_overrides(data, environ)
    assert OVERRIDES_KEY not in applied
    for variable, targets in overrides.items():
        assert f"#   {variable} " in header, f"{variable} is not described in the header"
        for target in targets:
            before = _lookup(data, target)
            assert isinstance(before, str) and before, target
            assert _lookup(applied, target) == f"<{variable}>"
    # nothing else changed
    assert apply_environment_overrides(data, {})["components"] == data["components"]


def test_overrides_skip_unset_and_empty_variables() -> None:
    data = read_stack_file(K8S_STACK)
    applied = apply_environment_overrides(data, {"K8S_STACK_CONTEXT": "", "K8S_STACK_S3_PATH": "s3://other/bucket"})
    assert _lookup(applied, "orchestrator.kubernetes_context") == "tabular-mlops"
    assert _lookup(applied, "artifact_store.path") == "s3://other/bucket"
    assert _lookup(data, "artifact_store.path") == "s3://zenml-artifacts/tabular-mlops"  # input untouched


@pytest.mark.parametrize(
    "target",
    ["orchestrator.no_such_key", "nowhere.kubernetes_context", "orchestrator.pod_settings.image_pull_secrets.7"],
)
def test_override_of_a_missing_value_is_an_error(target: str) -> None:
    data = {**read_stack_file(K8S_STACK), OVERRIDES_KEY: {"SOME_VARIABLE": [target]}}
    with pytest.raises(ConfigError, match=f"SOME_VARIABLE targets '{target}'"):
        apply_environment_overrides(data, {"SOME_VARIABLE": "x"})


def test_render_writes_an_importable_file(tmp_path: Path) -> None:
    output = tmp_path / "rendered" / "k8s.yaml"
    name = render_stack_file(K8S_STACK, output, {"K8S_STACK_REGISTRY_SECRET": "ghcr-pull"})
    assert name == "k8s-seldon"
    rendered = yaml.safe_load(output.read_text(encoding="utf-8"))
    assert OVERRIDES_KEY not in rendered
    assert list(rendered) == ["stack_name", "zenml_version", "components"]
    assert _lookup(rendered, "image_builder.volumes.0.secret.secretName") == "ghcr-pull"
    assert _lookup(rendered, "orchestrator.pod_settings.image_pull_secrets.0") == "ghcr-pull"


def test_render_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import run

    monkeypatch.setenv("K8S_STACK_MLFLOW_URI", "http://mlflow.mlflow.svc:5000")
    output = tmp_path / "k8s.yaml"
    assert run.main(["stacks", "--stack", "k8s-seldon", "--render", str(output), "--json"]) == 0
    summary = yaml.safe_load(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == {"stack_name": "k8s-seldon", "rendered": str(output)}
    assert (
        _lookup(yaml.safe_load(output.read_text()), "experiment_tracker.tracking_uri")
        == "http://mlflow.mlflow.svc:5000"
    )


# --------------------------------------------------------------------------- DockerSettings
def test_docker_settings_parse_into_zenml_models() -> None:
    from pipelines.docker import docker_settings

    settings = docker_settings(DOCKER_CONFIG)
    assert settings.install_stack_requirements is False
    assert settings.disable_automatic_requirements_detection is True
    assert isinstance(settings.requirements, list)
    assert "kubernetes==25.3.0" in settings.requirements
    assert settings.python_package_installer_args == {"extra-index-url": "https://download.pytorch.org/whl/cpu"}
    assert settings.parent_image and settings.parent_image.startswith("python:3.11.")
    assert settings.user and settings.user != "0"


def test_every_pipeline_builds_its_image_from_configs_docker_yaml() -> None:
    from pipelines import batch_inference_pipeline, deployment_pipeline, drift_monitoring_pipeline, training_pipeline
    from pipelines.docker import docker_settings

    expected = docker_settings(DOCKER_CONFIG)
    for pipeline in (training_pipeline, deployment_pipeline, batch_inference_pipeline, drift_monitoring_pipeline):
        stored = pipeline.configuration.settings["docker"]
        assert stored.model_dump(exclude_unset=True) == expected.model_dump(exclude_unset=True), pipeline.name


def test_a_misspelt_docker_setting_is_refused(tmp_path: Path) -> None:
    from pipelines.docker import docker_settings

    broken = tmp_path / "docker.yaml"
    broken.write_text(DOCKER_CONFIG.read_text(encoding="utf-8") + "install_stack_requirement: true\n")
    with pytest.raises(ConfigError, match="install_stack_requirement"):
        docker_settings(broken)


def test_docker_requirements_are_pyprojects_pins() -> None:
    path = DOCKER_CONFIG
    requirements = yaml.safe_load(path.read_text(encoding="utf-8"))["requirements"]
    pins = _pyproject_pins()
    listed = {canonicalize_name(Requirement(line).name): str(Requirement(line)) for line in requirements}
    assert len(listed) == len(requirements), "a package is listed twice"
    for name, requirement in listed.items():
        assert name in pins, (
            f"{requirement} (in {path.name}) is not in pyproject.toml's dependencies or `kubernetes` extra: "
            "add it there"
        )
        assert requirement == pins[name], f"{path.name} pins {requirement}, pyproject.toml {pins[name]}"
    missing = sorted(set(pins) - set(listed))
    assert not missing, f"pyproject.toml pins {[pins[m] for m in missing]} that {path.name} does not install"


def test_generated_dockerfile_installs_only_the_listed_pins() -> None:
    """The Dockerfile ZenML generates from the settings: no stack requirements (kubernetes==18.20.0), CPU torch."""
    from zenml.config import DockerSettings
    from zenml.utils.pipeline_docker_image_builder import PipelineDockerImageBuilder

    settings = DockerSettings.model_validate(yaml.safe_load(DOCKER_CONFIG.read_text(encoding="utf-8")))
    stack = mock.Mock()
    files = PipelineDockerImageBuilder.gather_requirements_files(settings, stack=stack, log=False)
    stack.requirements.assert_not_called()
    assert [name for name, _, _ in files] == [".zenml_user_requirements"]
    assert files[0][1].splitlines() == settings.requirements
    dockerfile = PipelineDockerImageBuilder._generate_zenml_pipeline_dockerfile(
        settings.parent_image or "", settings, requirements_files=files, apt_packages=settings.apt_packages
    )
    assert "kubernetes==18" not in dockerfile
    assert "--extra-index-url=https://download.pytorch.org/whl/cpu" in dockerfile
    assert "libgomp1" in dockerfile
    assert f"USER {settings.user}" in dockerfile.splitlines()
