"""Thin ZenML steps: read inputs, call the library, log, return."""

from steps.data import data_quality_gate, fit_features, load_dataset, split_dataset, validate_dataset
from steps.deployment import deploy_model
from steps.evaluation import evaluate_model
from steps.registry import register_model
from steps.training import train_model

__all__ = [
    "data_quality_gate",
    "deploy_model",
    "evaluate_model",
    "fit_features",
    "load_dataset",
    "register_model",
    "split_dataset",
    "train_model",
    "validate_dataset",
]
