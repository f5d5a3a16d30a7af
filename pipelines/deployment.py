"""Serve a registered model through the active stack's model deployer."""

from __future__ import annotations

from zenml import pipeline

from steps import deploy_model


@pipeline(enable_cache=False)
def deployment_pipeline(model_name: str, model_version: str | None = None, timeout: int = 90) -> None:
    """Deploy one registered model version (the production version when none is given)."""
    deploy_model(model_name=model_name, model_version=model_version, timeout=timeout)
