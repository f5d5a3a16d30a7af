"""Evaluation plots as PNG bytes: confusion matrix, ROC, precision-recall, calibration, residuals,
Q-Q, and feature importance. Each function returns the encoded image, ready for MLflow and the
ZenML dashboard."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import auc, precision_recall_curve, roc_curve

DPI = 110


def to_png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def confusion_matrix_png(matrix: list[list[int]], classes: list[str], title: str = "Confusion matrix (test)") -> bytes:
    values = np.asarray(matrix, dtype=float)
    shares = values / np.maximum(values.sum(axis=1, keepdims=True), 1)
    size = max(3.5, 0.9 * len(classes) + 2)
    figure, axes = plt.subplots(figsize=(size, size * 0.85))
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            axes.text(
                j,
                i,
                f"{int(values[i, j])}\n{shares[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if shares[i, j] > 0.6 else "black",
                fontsize=9,
            )
    axes.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, fraction=0.046, label="share of the true class")
    return to_png(figure)


def _one_vs_rest(
    y_true: np.ndarray, probabilities: np.ndarray, classes: list[str]
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    y_true = np.asarray(y_true).astype(str)
    if len(classes) == 2:
        return [(classes[1], (y_true == classes[1]).astype(int), probabilities[:, 1])]
    return [(c, (y_true == c).astype(int), probabilities[:, k]) for k, c in enumerate(classes)]


def roc_png(y_true: np.ndarray, probabilities: np.ndarray, classes: list[str], positive: str | None = None) -> bytes:
    figure, axes = plt.subplots(figsize=(5, 4.5))
    for label, truth, scores in _ordered(_one_vs_rest(y_true, probabilities, classes), classes, positive):
        fpr, tpr, _ = roc_curve(truth, scores)
        axes.plot(fpr, tpr, label=f"{label} (AUC {auc(fpr, tpr):.3f})")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate")
    axes.set_title("ROC curve (test)")
    axes.legend(loc="lower right", fontsize=8)
    return to_png(figure)


def pr_png(y_true: np.ndarray, probabilities: np.ndarray, classes: list[str], positive: str | None = None) -> bytes:
    figure, axes = plt.subplots(figsize=(5, 4.5))
    for label, truth, scores in _ordered(_one_vs_rest(y_true, probabilities, classes), classes, positive):
        precision, recall, _ = precision_recall_curve(truth, scores)
        axes.plot(recall, precision, label=f"{label} (base rate {truth.mean():.2f})")
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title("Precision-recall curve (test)")
    axes.legend(loc="lower left", fontsize=8)
    return to_png(figure)


def calibration_png(
    y_true: np.ndarray, probabilities: np.ndarray, classes: list[str], positive: str | None = None
) -> bytes:
    figure, axes = plt.subplots(figsize=(5, 4.5))
    for label, truth, scores in _ordered(_one_vs_rest(y_true, probabilities, classes), classes, positive):
        observed, predicted = calibration_curve(truth, scores, n_bins=10, strategy="quantile")
        axes.plot(predicted, observed, marker="o", label=label)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfectly calibrated")
    axes.set_xlabel("mean predicted probability")
    axes.set_ylabel("observed frequency")
    axes.set_title("Calibration (test, deciles)")
    axes.legend(loc="upper left", fontsize=8)
    return to_png(figure)


def _ordered(
    curves: list[tuple[str, np.ndarray, np.ndarray]], classes: list[str], positive: str | None
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    if len(classes) == 2 and positive is not None and positive != classes[1]:
        return [(positive, 1 - truth, 1 - scores) for _, truth, scores in curves]
    return curves


def residuals_png(y_true: np.ndarray, y_pred: np.ndarray) -> bytes:
    residuals = np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)
    figure, axes = plt.subplots(figsize=(5.5, 4.5))
    axes.scatter(y_pred, residuals, s=6, alpha=0.35)
    axes.axhline(0, color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel("predicted")
    axes.set_ylabel("residual (true - predicted)")
    axes.set_title("Residuals vs. predicted (test)")
    return to_png(figure)


def residual_histogram_png(y_true: np.ndarray, y_pred: np.ndarray) -> bytes:
    residuals = np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)
    figure, axes = plt.subplots(figsize=(5.5, 4))
    axes.hist(residuals, bins=50, color="#6366f1")
    axes.axvline(0, color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel("residual (true - predicted)")
    axes.set_ylabel("rows")
    axes.set_title(f"Residuals (test): mean {residuals.mean():.3g}, std {residuals.std():.3g}")
    return to_png(figure)


def qq_png(y_true: np.ndarray, y_pred: np.ndarray) -> bytes:
    residuals = np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)
    figure, axes = plt.subplots(figsize=(5, 4.5))
    (theoretical, ordered), (slope, intercept, _) = stats.probplot(residuals, dist="norm")
    axes.scatter(theoretical, ordered, s=6, alpha=0.5)
    axes.plot(theoretical, slope * np.asarray(theoretical) + intercept, color="grey", linestyle="--")
    axes.set_xlabel("normal quantiles")
    axes.set_ylabel("residual quantiles")
    axes.set_title("Q-Q plot of residuals (test)")
    return to_png(figure)


def importance_png(importances: dict[str, float], title: str, xlabel: str, top: int = 20) -> bytes:
    items = sorted(importances.items(), key=lambda kv: kv[1], reverse=True)[:top][::-1]
    figure, axes = plt.subplots(figsize=(6.5, 0.32 * len(items) + 1.2))
    axes.barh([k for k, _ in items], [v for _, v in items], color="#6366f1")
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    return to_png(figure)
