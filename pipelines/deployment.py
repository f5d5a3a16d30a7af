"""Serve a registered model through the active stack's model deployer.

The local stack's MLflow model deployer runs ``steps.deployment.deploy_model`` (MLflow's scoring
server); the k8s-seldon stack's Seldon model deployer runs ``steps.seldon_deployment.deploy_seldon_model``
(the project's Seldon component on Kubernetes, with ``parameters.seldon`` of configs/deployment.yaml).
Either step is named ``deploy_model`` in the run and returns the service as its ``deployment`` output.
"""

from __future__ import annotations

from typing import Any

from zenml import pipeline

from pipelines.docker import SETTINGS
from steps import deploy_model
from steps.seldon_deployment import active_model_deployer_flavor, deploy_seldon_model, deployment_step_for


@pipeline(enable_cache=False, settings=SETTINGS)
def deployment_pipeline(
    model_name: str,
    model_version: str | None = None,
    timeout: int = 90,
    seldon: dict[str, Any] | None = None,
) -> None:
    """Deploy one registered model version (the production version when none is given)."""
    if deployment_step_for(active_model_deployer_flavor()) == "seldon":
        deploy_seldon_model(model_name=model_name, model_version=model_version, seldon=seldon, id="deploy_model")
    else:
        deploy_model(model_name=model_name, model_version=model_version, timeout=timeout)
