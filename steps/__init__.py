"""Thin ZenML steps: read inputs, call the library, log, return."""

from steps.data import data_quality_gate, fit_features, load_dataset, split_dataset, validate_dataset
from steps.deployment import deploy_model
from steps.evaluation import evaluate_model
from steps.explain import explain_model
from steps.inference import existing_predictions, load_batch, predict_batch, resolve_model
from steps.model_card import write_model_card
from steps.monitoring import monitor_drift
from steps.promotion import promote_model
from steps.registry import register_model
from steps.training import train_model

__all__ = [
    "data_quality_gate",
    "deploy_model",
    "evaluate_model",
    "existing_predictions",
    "explain_model",
    "fit_features",
    "load_batch",
    "load_dataset",
    "monitor_drift",
    "predict_batch",
    "promote_model",
    "register_model",
    "resolve_model",
    "split_dataset",
    "train_model",
    "validate_dataset",
    "write_model_card",
]
