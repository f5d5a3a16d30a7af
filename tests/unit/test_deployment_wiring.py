"""Deployment wiring: the pipeline picks the step by the stack's model deployer, and the Seldon step's
real ``SeldonDeploymentConfig`` makes ZenML's Seldon deployer send the manifest the step writes.

There is no cluster here, so nothing runs the deployer itself; ZenML's own code builds the object it
would send (``SeldonDeployment.build``, as ``SeldonDeploymentService.provision`` calls it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from steps.seldon_deployment import (
    active_model_deployer_flavor,
    deploy_seldon_model,
    deployment_step_for,
    require_seldon_deployer,
    seldon_deployment_config,
    upload_bundle,
)
from tabular_mlops.errors import TabularMLOpsError
from tabular_mlops.serving.bundle import load_bundle
from tabular_mlops.serving.seldon_manifest import (
    SeldonSettings,
    build_seldon_deployment,
    validate_seldon_deployment,
)
from tests.conftest import PROJECT_ROOT, fit_model

BUNDLE_URI = "s3://zenml-artifacts/tabular-mlops/deploy_model/deployment/abc/seldon-bundle"
SECRET = "zenml-seldon-s3-artifacts"


def settings(**values: Any) -> SeldonSettings:
    import yaml

    config = yaml.safe_load((PROJECT_ROOT / "configs" / "deployment.yaml").read_text(encoding="utf-8"))
    return SeldonSettings.from_dict({**config["parameters"]["seldon"], **values})


def zenml_sends(config: Any) -> dict[str, Any]:
    """The SeldonDeployment ZenML's deployer creates for ``config``: the calls of
    ``SeldonDeploymentService.provision`` and ``SeldonClient.create_deployment``, minus the API call."""
    from zenml.integrations.seldon.seldon_client import SeldonDeployment
    from zenml.integrations.seldon.services import SeldonDeploymentService

    service = SeldonDeploymentService(uuid=uuid.uuid4(), config=config)
    deployment = SeldonDeployment.build(
        name=service.seldon_deployment_name,
        model_uri=config.model_uri,
        model_name=config.model_name,
        implementation=config.implementation,
        parameters=config.parameters,
        engineResources=config.resources,
        secret_name=config.secret_name,
        labels=service._get_seldon_deployment_labels(),
        annotations=config.get_seldon_deployment_annotations(),
        is_custom_deployment=config.is_custom_deployment,
        spec=config.spec,
        serviceAccountName=config.serviceAccountName,
    )
    deployment.spec.replicas = config.replicas
    deployment.spec.predictors[0].replicas = config.replicas
    deployment.mark_as_managed_by_zenml()
    body: dict[str, Any] = json.loads(json.dumps(deployment.model_dump(exclude_none=True)))
    return body


def without_engine_settings(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` less what ZenML's deployer cannot send: the predictor's annotations (no-engine)
    and the graph's endpoint."""
    copied: dict[str, Any] = json.loads(json.dumps(manifest))
    for predictor in copied["spec"]["predictors"]:
        predictor.pop("annotations", None)
        predictor["graph"].pop("endpoint", None)
    return copied


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"replicas": 2, "service_account": "tabular-model", "image_pull_secret": "registry-credentials"},
        {"no_engine": False},
    ],
)
def test_zenml_deployer_sends_the_written_manifests_predictor(values: dict[str, Any]) -> None:
    chosen = settings(**values)
    config = seldon_deployment_config(
        chosen,
        model_name="adult-income",
        model_version="3",
        bundle_uri=BUNDLE_URI,
        secret_name=SECRET,
        pipeline_name="deployment_pipeline",
        pipeline_step_name="deploy_model",
        registry_model_version="3",
    )
    assert config.is_custom_deployment is True and config.model_uri == BUNDLE_URI
    sent = zenml_sends(config)
    assert validate_seldon_deployment(sent) == []  # what ZenML sends passes the CRD schema too
    written = build_seldon_deployment(
        chosen, model_uri=BUNDLE_URI, model_name="adult-income", model_version="3", secret_name=SECRET
    )
    assert sent["spec"]["predictors"] == without_engine_settings(written)["spec"]["predictors"]
    assert sent["spec"]["replicas"] == written["spec"]["replicas"] == chosen.replicas
    container = sent["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]
    assert container["image"] == chosen.image
    assert sent["metadata"]["labels"]["zenml.pipeline_step_name"] == "deploy_model"
    assert sent["metadata"]["labels"]["zenml.model_name"] == "adult-income"
    assert sent["metadata"]["labels"]["zenml.registry_model_version"] == "3"


def test_autoscaler_is_only_in_the_written_manifest() -> None:
    chosen = settings(hpa={"min_replicas": 2, "max_replicas": 4})
    config = seldon_deployment_config(
        chosen, model_name="adult-income", model_version="3", bundle_uri=BUNDLE_URI, secret_name=SECRET
    )
    sent = zenml_sends(config)
    written = build_seldon_deployment(
        chosen, model_uri=BUNDLE_URI, model_name="adult-income", model_version="3", secret_name=SECRET
    )
    assert "hpaSpec" in written["spec"]["predictors"][0]["componentSpecs"][0]
    assert "hpaSpec" not in sent["spec"]["predictors"][0]["componentSpecs"][0]  # ZenML drops it
    assert sent["spec"]["predictors"][0]["replicas"] == written["spec"]["predictors"][0]["replicas"] == 2


def test_service_is_recreated_from_the_deployment_it_created() -> None:
    """ZenML finds and replaces deployments (continuous deployment) by the config it stores in an annotation."""
    from zenml.integrations.seldon.seldon_client import SeldonDeployment
    from zenml.integrations.seldon.services import SeldonDeploymentConfig

    config = seldon_deployment_config(
        settings(),
        model_name="Adult_Income",
        model_version="3",
        bundle_uri=BUNDLE_URI,
        secret_name=SECRET,
        pipeline_name="deployment_pipeline",
        pipeline_step_name="deploy_model",
    )
    assert config.model_name == "adult-income"  # the predictor's name: a Kubernetes name
    assert config.extra_args["registry_model_name"] == "Adult_Income"
    recreated = SeldonDeploymentConfig.create_from_deployment(SeldonDeployment(**zenml_sends(config)))
    assert recreated.model_dump() == config.model_dump()


def test_deployment_step_by_model_deployer_flavor() -> None:
    assert deployment_step_for("mlflow") == "mlflow"
    assert deployment_step_for("seldon") == "seldon"
    with pytest.raises(TabularMLOpsError, match=r"model deployer of flavor 'bentoml'.*'mlflow'.*'seldon'"):
        deployment_step_for("bentoml")
    with pytest.raises(TabularMLOpsError, match="has no model deployer"):
        deployment_step_for(None)


def test_seldon_step_refuses_other_deployers() -> None:
    for deployer in (None, object()):
        with pytest.raises(TabularMLOpsError, match=r"needs a Seldon model deployer.*k8s-seldon"):
            require_seldon_deployer(deployer)


@contextmanager
def temporary_stack(seldon_deployer: bool) -> Iterator[str]:
    """A stack of the (temporary) ZenML store, with a Seldon model deployer or none, active inside
    the block; the previous stack is active again afterwards."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    from stacks.registration import ensure_repository

    ensure_repository(PROJECT_ROOT)
    client = Client()
    previous = client.active_stack_model
    name = f"wiring-{uuid.uuid4().hex[:8]}"
    components: dict[StackComponentType, Any] = {
        StackComponentType.ORCHESTRATOR: previous.components[StackComponentType.ORCHESTRATOR][0].id,
        StackComponentType.ARTIFACT_STORE: previous.components[StackComponentType.ARTIFACT_STORE][0].id,
    }
    if seldon_deployer:
        configuration: dict[str, Any] = {
            "kubernetes_context": "no-cluster",
            "kubernetes_namespace": "seldon",
            "base_url": "http://seldon.example.com",
            "secret": None,
            "kubernetes_secret_name": None,
        }
        client.create_stack_component(
            name=name, flavor="seldon", component_type=StackComponentType.MODEL_DEPLOYER, configuration=configuration
        )
        components[StackComponentType.MODEL_DEPLOYER] = name
    client.create_stack(name=name, components=components)
    client.activate_stack(name)
    try:
        yield name
    finally:
        client.activate_stack(previous.id)


def test_pipeline_runs_the_seldon_step_on_a_seldon_stack() -> None:
    from pipelines.deployment import deployment_pipeline

    with temporary_stack(seldon_deployer=True):
        assert active_model_deployer_flavor() == "seldon"
        pipeline = deployment_pipeline.copy()
        pipeline.prepare(model_name="adult-income", seldon={"replicas": 2})
    (invocation,) = pipeline.invocations.values()
    assert invocation.id == "deploy_model"  # run.py reads the 'deployment' output of 'deploy_model'
    assert invocation.step.name == "deploy_seldon_model"
    assert invocation.parameters["seldon"] == {"replicas": 2}


def test_stack_without_model_deployer_is_refused() -> None:
    from pipelines.deployment import deployment_pipeline

    with temporary_stack(seldon_deployer=False):
        assert active_model_deployer_flavor() is None
        with pytest.raises(TabularMLOpsError, match="has no model deployer"):
            deployment_pipeline.copy().prepare(model_name="adult-income")
        with pytest.raises(TabularMLOpsError, match=r"needs a Seldon model deployer.*flavor 'none'"):
            deploy_seldon_model.entrypoint(model_name="adult-income")


def test_bundle_upload_through_zenml_fileio(tmp_path: Path, adult_sample: pd.DataFrame) -> None:
    from tabular_mlops.serving.model import ServedModel

    pipeline, schema = fit_model(adult_sample.head(800), "income", n_estimators=20)
    model = ServedModel(pipeline=pipeline, schema=schema, name="adult-income", version="3", model_uri="models:/x/3")
    destination = upload_bundle(model, str(tmp_path / "artifact-store" / "deployment" / "seldon-bundle"))
    loaded = load_bundle(destination)
    rows = adult_sample.tail(50).drop(columns=["income"])
    assert loaded.classes == [str(c) for c in pipeline.classes_]
    pd.testing.assert_frame_equal(
        pd.DataFrame(loaded.pipeline.predict_proba(rows)), pd.DataFrame(pipeline.predict_proba(rows))
    )
