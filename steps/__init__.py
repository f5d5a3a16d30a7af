"""Thin ZenML steps: read inputs, call the library, log, return."""

from steps.data import load_dataset, split_dataset, validate_dataset
from steps.deployment import deploy_model
from steps.evaluation import evaluate_model
from steps.registry import register_model
from steps.training import train_model

__all__ = [
    "deploy_model",
    "evaluate_model",
    "load_dataset",
    "register_model",
    "split_dataset",
    "train_model",
    "validate_dataset",
]
