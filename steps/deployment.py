"""Deployment step: serve a registered model through the active stack's model deployer.

ZenML's stock MLflow deployer steps return the old service on redeploy and then stop it, so
nothing serves (see the project notes). This step builds the deployment config itself and calls
``deploy_model(..., continuous_deployment_mode=True)``, which replaces the running server.
"""

from __future__ import annotations

import shutil
from typing import Annotated

from mlflow.tracking import MlflowClient
from zenml import get_step_context, log_metadata, step
from zenml.client import Client
from zenml.logger import get_logger
from zenml.services.service import BaseDeploymentService

from stacks.registration import configure_mlflow_from_active_stack
from tabular_mlops.errors import TabularMLOpsError
from tabular_mlops.registry.mlflow_registry import get_version, production_version

logger = get_logger(__name__)


@step(enable_cache=False)
def deploy_model(
    model_name: str, model_version: str | None = None, timeout: int = 90
) -> Annotated[BaseDeploymentService, "deployment"]:
    """Deploy ``model_name``: the production version unless ``model_version`` is given."""
    from zenml.integrations.mlflow.model_deployers import MLFlowModelDeployer
    from zenml.integrations.mlflow.services import MLFlowDeploymentConfig, MLFlowDeploymentService

    configure_mlflow_from_active_stack()
    registered = get_version(model_name, model_version) if model_version else production_version(model_name)
    tags = MlflowClient().get_model_version(registered.name, registered.version).tags
    deployer = Client().active_stack.model_deployer
    if not isinstance(deployer, MLFlowModelDeployer):
        flavor = deployer.flavor if deployer else "none"
        raise TabularMLOpsError(
            f"The active stack's model deployer has flavor '{flavor}', which this step does not "
            "deploy to yet; use the local stack (`zenml stack set local`)."
        )
    if shutil.which("uvicorn") is None:
        raise TabularMLOpsError(
            "The MLflow model server runs `uvicorn`, which is not on PATH; activate the project's "
            "virtual environment (source .venv/bin/activate) or use `make run`."
        )
    context = get_step_context()
    config = MLFlowDeploymentConfig(
        model_name=registered.name,
        model_version=tags.get("zenml_model_version", ""),
        model_uri=registered.registry_uri,
        registry_model_name=registered.name,
        registry_model_version=registered.version,
        pipeline_name=context.pipeline.name,
        pipeline_step_name=context.step_run.name,
        workers=1,
        timeout=timeout,
    )
    # ZenML's own replacement looks servers up by the *newest* ZenML model version, so it misses a
    # server still running an older version: stop those first (the new one then takes their port).
    for old in deployer.find_model_server(
        pipeline_name=config.pipeline_name,
        pipeline_step_name=config.pipeline_step_name,
        service_type=MLFlowDeploymentService.SERVICE_TYPE,
    ):
        if old.config.model_name == registered.name:
            logger.info(
                "Stopping the server of %s version %s",
                registered.name,
                getattr(old.config, "registry_model_version", "?"),
            )
            deployer.delete_model_server(old.uuid, timeout=timeout)
    service = deployer.deploy_model(
        config=config,
        service_type=MLFlowDeploymentService.SERVICE_TYPE,
        continuous_deployment_mode=True,
        timeout=timeout,
    )
    if not isinstance(service, BaseDeploymentService) or not service.is_running:
        raise TabularMLOpsError(
            f"The model server for {registered.registry_uri} did not start within {timeout} s; "
            f"see its log under {deployer.local_path}."
        )
    url = service.get_prediction_url() or ""
    logger.info("Model %s serving at %s", registered.registry_uri, url)
    log_metadata(metadata={"prediction_url": url, "model_uri": registered.registry_uri})
    return service
