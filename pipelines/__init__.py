"""ZenML pipelines: wiring only, the logic lives in ``tabular_mlops`` and ``steps``."""

from pipelines.batch_inference import batch_inference_pipeline, drift_monitoring_pipeline
from pipelines.deployment import deployment_pipeline
from pipelines.training import training_pipeline

__all__ = ["batch_inference_pipeline", "deployment_pipeline", "drift_monitoring_pipeline", "training_pipeline"]
