"""Everything measured on the test split, in one place: metrics, intervals, plots, importances."""

from __future__ import annotations

import base64
import html
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.pipeline import Pipeline

from tabular_mlops.config import EvaluationConfig
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.evaluation import plots
from tabular_mlops.evaluation.metrics import bootstrap_interval, classification_metrics, confusion, regression_metrics


@dataclass
class EvaluationResult:
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    classes: list[str] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    importances: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def html(self, title: str = "Evaluation on the test split") -> str:
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td><td>"
            + (f"{self.intervals[k][0]:.4f} - {self.intervals[k][1]:.4f}" if k in self.intervals else "")
            + "</td></tr>"
            for k, v in sorted(self.metrics.items())
        )
        images = "".join(
            f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
            f"<figcaption>{html.escape(name.removesuffix('.png').replace('_', ' '))}</figcaption></figure>"
            for name, data in self.images.items()
        )
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Evaluation</title><style>"
            "body{font-family:sans-serif;font-size:13px;margin:16px} table{border-collapse:collapse}"
            "td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}"
            "figure{display:inline-block;margin:8px;vertical-align:top} img{max-width:520px}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><table><tr><th>metric</th><th>value</th><th>95% bootstrap CI</th></tr>"
            f"{rows}</table>{images}</body></html>"
        )


def evaluate_on_test(
    model: Pipeline, test: pd.DataFrame, schema: DatasetSchema, config: EvaluationConfig
) -> EvaluationResult:
    started = time.monotonic()
    X, y = test[schema.feature_names], test[schema.target]
    result = EvaluationResult(metrics={}, intervals={})
    if schema.task == "regression":
        predicted = np.asarray(model.predict(X), dtype=float)
        truth = y.to_numpy(dtype=float)
        result.metrics = regression_metrics(truth, predicted)
        for name in ("rmse", "r2"):
            statistic = _regression_statistic(name, truth, predicted)
            result.intervals[name] = bootstrap_interval(
                statistic, len(truth), config.bootstrap_resamples, seed=config.seed
            )
        result.images = {
            "residuals_vs_predicted.png": plots.residuals_png(truth, predicted),
            "residual_histogram.png": plots.residual_histogram_png(truth, predicted),
            "residual_qq.png": plots.qq_png(truth, predicted),
        }
    else:
        classes = [str(c) for c in model.classes_]
        probabilities = np.asarray(model.predict_proba(X))
        labels = np.asarray(model.predict(X)).astype(str)
        truth = y.astype(str).to_numpy()
        result.classes = classes
        result.metrics = classification_metrics(truth, labels, probabilities, classes, schema.positive_class)
        positive = schema.positive_class or classes[-1]
        for name in ("roc_auc", "accuracy", "f1", "f1_macro"):
            if name in result.metrics:
                statistic = _classification_statistic(name, truth, labels, probabilities, classes, positive)
                result.intervals[name] = bootstrap_interval(
                    statistic, len(truth), config.bootstrap_resamples, seed=config.seed
                )
        result.confusion = confusion(truth, labels, classes)
        result.images = {
            "confusion_matrix.png": plots.confusion_matrix_png(result.confusion, classes),
            "roc_curve.png": plots.roc_png(truth, probabilities, classes, schema.positive_class),
            "pr_curve.png": plots.pr_png(truth, probabilities, classes, schema.positive_class),
            "calibration_curve.png": plots.calibration_png(truth, probabilities, classes, schema.positive_class),
        }
    result.importances = raw_column_importance(model, test, schema, config)
    if result.importances:
        result.images["feature_importance.png"] = plots.importance_png(
            result.importances,
            "Permutation importance of the input columns (test)",
            f"drop in {'R2' if schema.task == 'regression' else 'accuracy'} when the column is shuffled",
        )
    result.seconds = time.monotonic() - started
    return result


def _regression_statistic(name: str, truth: np.ndarray, predicted: np.ndarray) -> Any:
    def statistic(rows: np.ndarray) -> float:
        errors = truth[rows] - predicted[rows]
        if name == "rmse":
            return float(np.sqrt(np.mean(errors**2)))
        spread = np.sum((truth[rows] - truth[rows].mean()) ** 2)
        return float(1.0 - np.sum(errors**2) / spread) if spread > 0 else float("nan")

    return statistic


def _classification_statistic(
    name: str, truth: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, classes: list[str], positive: str
) -> Any:
    """A fast version of one metric over resampled rows (the bootstrap calls it hundreds of times)."""
    is_positive = truth == positive
    scores = probabilities[:, classes.index(positive)] if positive in classes else None
    predicted_positive = labels == positive

    def statistic(rows: np.ndarray) -> float:
        if name == "accuracy":
            return float(np.mean(truth[rows] == labels[rows]))
        if name == "roc_auc" and scores is not None:
            return float(roc_auc_score(is_positive[rows], scores[rows]))
        if name == "f1":
            tp = np.sum(is_positive[rows] & predicted_positive[rows])
            denominator = np.sum(is_positive[rows]) + np.sum(predicted_positive[rows])
            return float(2 * tp / denominator) if denominator else 0.0
        return float(f1_score(truth[rows], labels[rows], average="macro", labels=classes, zero_division=0))

    return statistic


def raw_column_importance(
    model: Pipeline, test: pd.DataFrame, schema: DatasetSchema, config: EvaluationConfig
) -> dict[str, float]:
    """Permutation importance of each input column through the whole pipeline, on a test sample."""
    sample = test.sample(n=min(config.importance_rows, len(test)), random_state=config.seed)
    scoring = "r2" if schema.task == "regression" else "accuracy"
    found: Any = permutation_importance(
        model,
        sample[schema.feature_names],
        sample[schema.target],
        scoring=scoring,
        n_repeats=3,
        random_state=config.seed,
        n_jobs=1,
    )
    return {name: float(v) for name, v in zip(schema.feature_names, found.importances_mean, strict=True)}
