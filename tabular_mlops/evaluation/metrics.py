"""Metrics for every task, the one that decides model selection, and bootstrap confidence intervals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm


@dataclass(frozen=True)
class SelectionMetric:
    """The metric that ranks candidates; ``greater_is_better`` says which way is up."""

    name: str
    greater_is_better: bool


DEFAULT_SELECTION_METRIC = {
    "binary": SelectionMetric("roc_auc", True),
    "multiclass": SelectionMetric("accuracy", True),
    "regression": SelectionMetric("rmse", False),
}
LOWER_IS_BETTER = {"rmse", "mae", "mse", "log_loss", "brier", "mape"}
HEADLINE = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}


def selection_metric(task: str, name: str = "auto") -> SelectionMetric:
    if name == "auto":
        return DEFAULT_SELECTION_METRIC[task]
    return SelectionMetric(name, name not in LOWER_IS_BETTER)


def classification_metrics(
    y_true: pd.Series | np.ndarray,
    y_pred: np.ndarray,
    probabilities: np.ndarray | None,
    classes: list[str],
    positive_class: str | None = None,
) -> dict[str, float]:
    """accuracy, precision / recall / F1 (positive class when binary, and macro), ROC AUC, PR AUC,
    log loss and Brier score."""
    y_true = np.asarray(y_true).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    result: dict[str, float] = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "precision_macro": skm.precision_score(y_true, y_pred, average="macro", zero_division=0),
        "recall_macro": skm.recall_score(y_true, y_pred, average="macro", zero_division=0),
        "f1_macro": skm.f1_score(y_true, y_pred, average="macro", zero_division=0),
    }
    if len(classes) == 2:
        positive = positive_class if positive_class is not None else classes[-1]
        result["precision"] = skm.precision_score(y_true, y_pred, pos_label=positive, zero_division=0)
        result["recall"] = skm.recall_score(y_true, y_pred, pos_label=positive, zero_division=0)
        result["f1"] = skm.f1_score(y_true, y_pred, pos_label=positive, zero_division=0)
        if probabilities is not None and len(set(y_true)) == 2:
            scores = probabilities[:, classes.index(positive)]
            result["roc_auc"] = skm.roc_auc_score(y_true == positive, scores)
            result["pr_auc"] = skm.average_precision_score(y_true == positive, scores)
            result["brier"] = skm.brier_score_loss(y_true == positive, scores)
    elif probabilities is not None and len(set(y_true)) == len(classes):
        result["roc_auc_ovr"] = skm.roc_auc_score(y_true, probabilities, multi_class="ovr", labels=classes)
        onehot = (y_true[:, None] == np.asarray(classes)[None, :]).astype(float)
        result["pr_auc_macro"] = skm.average_precision_score(onehot, probabilities, average="macro")
        result["brier"] = float(np.mean(np.sum((probabilities - onehot) ** 2, axis=1)))
    if probabilities is not None:
        result["log_loss"] = skm.log_loss(y_true, np.clip(probabilities, 1e-15, 1), labels=classes)
    return {k: float(v) for k, v in result.items()}


def regression_metrics(y_true: pd.Series | np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    mse = skm.mean_squared_error(y_true, y_pred)
    nonzero = np.abs(y_true) > 1e-12
    return {
        "mse": float(mse),
        "rmse": float(np.sqrt(mse)),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "r2": float(skm.r2_score(y_true, y_pred)),
        "mape": float(np.mean(np.abs((y_true[nonzero] - y_pred[nonzero]) / y_true[nonzero]))) if nonzero.any() else 0.0,
    }


def confusion(y_true: Any, y_pred: Any, classes: list[str]) -> list[list[int]]:
    """Rows: true class, columns: predicted class, in ``classes`` order."""
    return skm.confusion_matrix(np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str), labels=classes).tolist()


def evaluate_estimator(
    model: Any, X: Any, y: pd.Series | np.ndarray, task: str, positive_class: str | None = None
) -> dict[str, float]:
    """Score a fitted model (anything with predict / predict_proba) on ``X``, ``y``."""
    predictions = model.predict(X)
    if task == "regression":
        return regression_metrics(y, predictions)
    classes = [str(c) for c in model.classes_]
    probabilities = model.predict_proba(X) if hasattr(model, "predict_proba") else None
    return classification_metrics(y, predictions, probabilities, classes, positive_class)


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    n_rows: int,
    n_resamples: int = 500,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(rows)``, where ``rows`` indexes the test set."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        rows = rng.integers(0, n_rows, n_rows)
        try:
            value = statistic(rows)
        except ValueError:  # a resample without both classes for ROC AUC
            continue
        if np.isfinite(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))
