"""ZenML pipelines: wiring only, the logic lives in ``tabular_mlops`` and ``steps``."""

from pipelines.deployment import deployment_pipeline
from pipelines.training import training_pipeline

__all__ = ["deployment_pipeline", "training_pipeline"]
