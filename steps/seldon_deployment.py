"""Deployment step for the Kubernetes stack: serve a registered model with Seldon Core v1.

The registered MLflow model is exported as a self-contained bundle
(``tabular_mlops.serving.bundle``: ``model.joblib`` + ``bundle.json``, no MLflow needed to load
it), copied into the artifact store beside the step's output, and served by the project's own
Seldon component (``deploy/seldon/TabularSeldonModel.py``) in the image ``seldon.image`` of
configs/deployment.yaml: the FastAPI server's schema checks and prediction path, in seldon-core's
Python 3.12 / numpy 1.x environment.

ZenML's stock Seldon steps do not work with ZenML 0.98 + MLflow 3 (the project notes list how), so
this step builds the ``SeldonDeploymentConfig`` itself and calls the stack's Seldon model deployer
with ``continuous_deployment_mode=True``, which replaces the previous deployment of the same model
by this step. Before deploying, it writes the ``SeldonDeployment`` manifest (checked against the
CRD's schema, unknown fields rejected) to ``seldon.manifest_path`` for review / GitOps, returns it
as the ``seldon_manifest`` artifact and records where everything is in the step's metadata.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Annotated, Any

from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.enums import StackComponentType
from zenml.logger import get_logger
from zenml.services.service import BaseDeploymentService

from stacks.registration import configure_mlflow_from_active_stack
from tabular_mlops.errors import TabularMLOpsError
from tabular_mlops.serving.bundle import INFO_FILE, MODEL_FILE, export_bundle
from tabular_mlops.serving.seldon_manifest import (
    SeldonSettings,
    build_seldon_deployment,
    dns_name,
    manifest_path,
    manifest_yaml,
    model_parameters,
    predictor_replicas,
    seldon_pod_spec,
    validate_seldon_deployment,
    write_manifest,
)

if TYPE_CHECKING:
    from zenml.integrations.seldon.model_deployers import SeldonModelDeployer
    from zenml.integrations.seldon.services import SeldonDeploymentConfig

    from tabular_mlops.serving.model import ServedModel

logger = get_logger(__name__)

# Model deployer flavor -> the deployment step this project runs for it.
DEPLOYER_STEPS = {"mlflow": "deploy_model", "seldon": "deploy_seldon_model"}


def deployment_step_for(flavor: str | None) -> str:
    """``"mlflow"`` or ``"seldon"``: which deployment step serves models on a stack whose model
    deployer has ``flavor``; a clear error for any other (or none)."""
    if flavor in DEPLOYER_STEPS:
        return str(flavor)
    found = f"a model deployer of flavor '{flavor}'" if flavor else "no model deployer"
    raise TabularMLOpsError(
        f"The active ZenML stack has {found}; this project deploys with the 'mlflow' model deployer "
        "(the local stack: `zenml stack set local`) or the 'seldon' one (the k8s-seldon stack, "
        "stacks/k8s-seldon.yaml)."
    )


def active_model_deployer_flavor() -> str | None:
    """The flavor of the active stack's model deployer (None without one), read without loading it."""
    components = Client().active_stack_model.components.get(StackComponentType.MODEL_DEPLOYER) or []
    return components[0].flavor_name if components else None


def require_seldon_deployer(deployer: Any) -> SeldonModelDeployer:
    """``deployer`` when it is ZenML's Seldon model deployer, else a clear error."""
    from zenml.integrations.seldon.model_deployers import SeldonModelDeployer

    if not isinstance(deployer, SeldonModelDeployer):
        flavor = getattr(deployer, "flavor", None) if deployer is not None else None
        raise TabularMLOpsError(
            f"The Seldon deployment step needs a Seldon model deployer; the active stack's has flavor "
            f"'{flavor or 'none'}'. Activate the k8s-seldon stack, or deploy with `python run.py deploy` "
            "on the local stack (MLflow)."
        )
    return deployer


def seldon_deployment_config(
    settings: SeldonSettings,
    *,
    model_name: str,
    model_version: str,
    bundle_uri: str,
    secret_name: str | None,
    pipeline_name: str = "",
    pipeline_step_name: str = "",
    registry_model_version: str = "",
) -> SeldonDeploymentConfig:
    """The ``SeldonDeploymentConfig`` of the project's Seldon component serving the bundle at
    ``bundle_uri``: a custom deployment (the pod of ``seldon_pod_spec``), the component's
    parameters, ``predictor_replicas`` replicas. ``secret_name`` is the Kubernetes secret with the
    artifact store's credentials that the deployer creates (its ``kubernetes_secret_name``).
    ``model_version`` is the ZenML model version; the MLflow registry's name and version go into
    ``extra_args`` (kept with the service, and labels ``zenml.registry_model_*`` of the deployment)."""
    from zenml.integrations.seldon.seldon_client import SeldonDeploymentPredictorParameter
    from zenml.integrations.seldon.services import SeldonDeploymentConfig

    return SeldonDeploymentConfig(
        model_uri=bundle_uri,
        model_name=dns_name(model_name),  # also the predictor's name: a Kubernetes name
        model_version=model_version,
        implementation="custom",
        parameters=[SeldonDeploymentPredictorParameter(**p) for p in model_parameters(settings)],
        resources=None,
        replicas=predictor_replicas(settings),
        secret_name=None,  # the deployer then creates `secret_name` from the artifact store's credentials
        is_custom_deployment=True,
        spec=seldon_pod_spec(settings, bundle_uri, secret_name),
        serviceAccountName=settings.service_account or None,
        pipeline_name=pipeline_name,
        pipeline_step_name=pipeline_step_name,
        extra_args={"registry_model_name": model_name, "registry_model_version": registry_model_version},
    )


def upload_bundle(model: ServedModel, destination: str) -> str:
    """Export ``model`` as a bundle into ``destination`` (any artifact store URI); return it."""
    from zenml.io import fileio

    with tempfile.TemporaryDirectory(prefix="seldon-bundle-") as local:
        export_bundle(model, local)
        fileio.makedirs(destination)
        for name in (MODEL_FILE, INFO_FILE):
            fileio.copy(os.path.join(local, name), os.path.join(destination, name), overwrite=True)
    return destination


@step(enable_cache=False)
def deploy_seldon_model(
    model_name: str,
    model_version: str | None = None,
    seldon: dict[str, Any] | None = None,
) -> tuple[Annotated[BaseDeploymentService, "deployment"], Annotated[str, "seldon_manifest"]]:
    """Serve ``model_name`` (the production version unless ``model_version`` is given) with Seldon."""
    from mlflow.tracking import MlflowClient
    from zenml.integrations.seldon.services import SeldonDeploymentService

    from tabular_mlops.registry.mlflow_registry import get_version, production_version
    from tabular_mlops.serving.model import ServedModel

    settings = SeldonSettings.from_dict(seldon)
    deployer = require_seldon_deployer(Client().active_stack.model_deployer)
    configure_mlflow_from_active_stack()
    registered = get_version(model_name, model_version) if model_version else production_version(model_name)
    tags = MlflowClient().get_model_version(registered.name, registered.version).tags
    served = ServedModel.from_mlflow(registered.registry_uri, name=registered.name, version=registered.version)
    context = get_step_context()
    bundle_uri = upload_bundle(served, os.path.join(context.get_output_artifact_uri("deployment"), "seldon-bundle"))
    secret_name = deployer.kubernetes_secret_name
    if deployer.config.kubernetes_namespace and deployer.config.kubernetes_namespace != settings.namespace:
        logger.warning(
            "seldon.namespace is '%s' but the stack's Seldon deployer deploys to '%s'; the GitOps manifest keeps '%s'.",
            settings.namespace,
            deployer.config.kubernetes_namespace,
            settings.namespace,
        )

    manifest = build_seldon_deployment(
        settings,
        model_uri=bundle_uri,
        model_name=registered.name,
        model_version=registered.version,
        secret_name=secret_name,
        annotations={"tabular-mlops/registry-uri": registered.registry_uri},
    )
    problems = validate_seldon_deployment(manifest)
    if problems:
        raise TabularMLOpsError("The SeldonDeployment manifest breaks the CRD's schema: " + "; ".join(problems))
    path = write_manifest(manifest, manifest_path(settings, registered.name, registered.version))
    logger.info("SeldonDeployment manifest for review / GitOps: %s", path)
    log_metadata(
        metadata={
            "seldon_manifest_path": str(path),
            "seldon_bundle_uri": bundle_uri,
            "seldon_image": settings.image,
            "model_uri": registered.registry_uri,
        }
    )

    config = seldon_deployment_config(
        settings,
        model_name=registered.name,
        model_version=tags.get("zenml_model_version", ""),
        bundle_uri=bundle_uri,
        secret_name=secret_name,
        pipeline_name=context.pipeline.name,
        pipeline_step_name=context.step_run.name,
        registry_model_version=registered.version,
    )
    service = deployer.deploy_model(
        config=config,
        service_type=SeldonDeploymentService.SERVICE_TYPE,
        continuous_deployment_mode=True,
        timeout=settings.timeout,
    )
    if not isinstance(service, BaseDeploymentService) or not service.is_running:
        name = getattr(service, "seldon_deployment_name", "zenml-<service id>")
        raise TabularMLOpsError(
            f"The SeldonDeployment of {registered.registry_uri} did not become available within "
            f"{settings.timeout} s; see `kubectl -n {deployer.config.kubernetes_namespace} describe sdep {name}` "
            f"and the logs of its pods."
        )
    url = service.get_prediction_url() or ""
    logger.info("Model %s served by Seldon at %s", registered.registry_uri, url)
    log_metadata(metadata={"prediction_url": url, "seldon_deployment": getattr(service, "seldon_deployment_name", "")})
    return service, manifest_yaml(manifest)
