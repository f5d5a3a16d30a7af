"""The SeldonDeployment manifest: built from configs/deployment.yaml, valid against the CRD's schema
(unknown fields rejected), restricted pod security; broken manifests are rejected."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tabular_mlops.errors import ConfigError
from tabular_mlops.serving.seldon_manifest import (
    GRAPH_NODE,
    MODEL_MOUNT,
    SeldonSettings,
    build_seldon_deployment,
    dns_name,
    manifest_path,
    validate_seldon_deployment,
    write_manifest,
)
from tests.conftest import PROJECT_ROOT

BUNDLE_URI = "s3://zenml-artifacts/tabular-mlops/deploy_model/deployment/abc/seldon-bundle"


def configured() -> SeldonSettings:
    config = yaml.safe_load((PROJECT_ROOT / "configs" / "deployment.yaml").read_text(encoding="utf-8"))
    return SeldonSettings.from_dict(config["parameters"]["seldon"])


def manifest(settings: SeldonSettings | None = None, **overrides: Any) -> dict[str, Any]:
    return build_seldon_deployment(
        settings or configured(),
        model_uri=BUNDLE_URI,
        model_name="adult-income",
        model_version="3",
        secret_name="zenml-seldon-s3",
        **overrides,
    )


def predictor(m: dict[str, Any]) -> dict[str, Any]:
    return dict(m["spec"]["predictors"][0])


def pod(m: dict[str, Any]) -> dict[str, Any]:
    return dict(predictor(m)["componentSpecs"][0]["spec"])


def test_configured_manifest_is_valid_against_the_crd() -> None:
    built = manifest()
    assert validate_seldon_deployment(built) == []
    assert built["apiVersion"] == "machinelearning.seldon.io/v1" and built["kind"] == "SeldonDeployment"
    assert built["metadata"]["name"] == "adult-income" and built["metadata"]["namespace"] == "seldon"


def test_manifest_runs_the_project_class_on_the_bundle() -> None:
    built = manifest()
    graph = predictor(built)["graph"]
    assert graph["name"] == GRAPH_NODE and graph["type"] == "MODEL"
    parameters = {p["name"]: (p["type"], p["value"]) for p in graph["parameters"]}
    assert parameters["model_uri"] == ("STRING", MODEL_MOUNT)
    assert parameters["require_all_columns"] == ("BOOL", "true")
    spec = pod(built)
    (container,) = spec["containers"]
    assert container["name"] == GRAPH_NODE  # Seldon matches the graph node to the container by name
    assert container["image"] == configured().image
    assert container["command"] == ["seldon-core-microservice", "TabularSeldonModel", "--service-type", "MODEL"]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/status"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/ping"
    (init,) = spec["initContainers"]
    assert init["args"] == [BUNDLE_URI, MODEL_MOUNT]
    assert init["envFrom"] == [{"secretRef": {"name": "zenml-seldon-s3", "optional": False}}]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts[MODEL_MOUNT]["readOnly"] is True and "/tmp" in mounts
    assert predictor(built)["replicas"] == 1 and "hpaSpec" not in predictor(built)["componentSpecs"][0]
    assert predictor(built)["annotations"] == {"seldon.io/no-engine": "true"} and graph["endpoint"] == {"type": "REST"}
    with_engine = manifest(SeldonSettings.from_dict({"no_engine": False}))
    assert "annotations" not in predictor(with_engine) and "endpoint" not in predictor(with_engine)["graph"]
    assert validate_seldon_deployment(with_engine) == []


def test_every_container_runs_restricted() -> None:
    spec = pod(manifest())
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"] + spec["initContainers"]:
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, container["name"]
        assert "limits" in container["resources"] and "requests" in container["resources"]


def test_autoscaling_pull_secret_and_service_account() -> None:
    settings = SeldonSettings.from_dict(
        {
            "replicas": 1,
            "hpa": {"min_replicas": 2, "max_replicas": 6, "cpu_utilization": 60},
            "image_pull_secret": "registry-credentials",
            "service_account": "tabular-model",
            "deployment_name": "Adult_Income-Prod",
        }
    )
    built = manifest(settings)
    assert validate_seldon_deployment(built) == []
    component = predictor(built)["componentSpecs"][0]
    assert component["hpaSpec"] == {
        "minReplicas": 2,
        "maxReplicas": 6,
        "metricsv2": [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
            }
        ],
    }
    assert predictor(built)["replicas"] == 2  # raised to the autoscaler's minimum
    assert component["spec"]["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert component["spec"]["serviceAccountName"] == "tabular-model"
    assert built["metadata"]["name"] == "adult-income-prod"


@pytest.mark.parametrize(
    ("break_it", "words"),
    [
        (lambda m: pod(m)["containers"][0].update(readinesProbe={}), "'readinesProbe' was unexpected"),
        (lambda m: m["spec"].update(replicas="two"), "spec.replicas: 'two' is not of type 'integer'"),
        (lambda m: m["spec"]["predictors"][0].update(graph={"name": 3}), "graph.name: 3 is not of type 'string'"),
        (lambda m: pod(m)["containers"][0]["securityContext"].update(runAsNonroot=True), "'runAsNonroot'"),
        (
            lambda m: m["spec"]["predictors"][0]["componentSpecs"][0].update(
                hpaSpec={"maxReplicas": 3, "metricsV2": []}
            ),
            "metricsV2",
        ),
        (lambda m: m["metadata"].update(label={"a": "b"}), "metadata.label: unknown field"),
        (lambda m: m.update(kind="Deployment"), "kind: expected 'SeldonDeployment'"),
    ],
)
def test_broken_manifests_are_rejected(break_it: Any, words: str) -> None:
    broken = copy.deepcopy(manifest())
    break_it(broken)
    problems = validate_seldon_deployment(broken)
    assert problems, "the broken manifest passed"
    assert any(words in p for p in problems), problems


def test_written_manifest_reads_back(tmp_path: Path) -> None:
    built = manifest()
    path = write_manifest(built, tmp_path / "out" / "sdep.yaml")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Generated by the Seldon deployment step")
    assert yaml.safe_load(text) == built
    assert validate_seldon_deployment(yaml.safe_load(text)) == []


def test_manifest_path_template_and_root(tmp_path: Path) -> None:
    settings = SeldonSettings.from_dict({"manifest_path": "gitops/{model_name}/v{model_version}.yaml"})
    assert manifest_path(settings, "Adult Income", "4", root=tmp_path) == tmp_path / "gitops/adult-income/v4.yaml"
    assert manifest_path(configured(), "adult-income", "4") == (
        PROJECT_ROOT / "deploy/seldon/generated/adult-income-seldondeployment.yaml"
    )


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"replica": 2}, "Unknown seldon setting(s) ['replica']"),
        ({"image": "tabular-mlops-seldon"}, "tagged image"),
        ({"replicas": 0}, ">= 1"),
        ({"unknown_fields": "drop"}, "'reject' or 'ignore'"),
        ({"resources": {"request": {"cpu": "1"}}}, "'requests' and 'limits'"),
        ({"hpa": {"min_replicas": 3, "max_replicas": 2}}, "min_replicas <= max_replicas"),
        ({"hpa": {"max": 2}}, "Unknown seldon.hpa setting(s) ['max']"),
        ({"hpa": {"cpu_utilization": 150}}, "1-100"),
    ],
)
def test_bad_settings_are_explained(settings: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as error:
        SeldonSettings.from_dict(settings)
    assert words in str(error.value)


def test_dns_name() -> None:
    assert dns_name("Adult_Income v2") == "adult-income-v2"
    assert len(dns_name("x" * 100)) == 63
    with pytest.raises(ConfigError):
        dns_name("___")
