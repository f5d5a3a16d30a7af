"""The decision threshold of a binary classifier, tuned on out-of-fold / validation predictions."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted


def tune_threshold(
    y_true: np.ndarray,
    scores: np.ndarray,
    positive: str,
    objective: str = "f1",
    cost_false_positive: float = 1.0,
    cost_false_negative: float = 1.0,
) -> tuple[float, float]:
    """The threshold on the positive-class probability that maximises F1 (or minimises the cost).

    Returns ``(threshold, value)``: value is the F1, or the mean cost per row.
    """
    truth = np.asarray(y_true).astype(str) == str(positive)
    scores = np.asarray(scores, dtype=float)
    candidates = np.unique(np.quantile(scores, np.linspace(0.01, 0.99, 197)))
    best_threshold, best_value = 0.5, -np.inf
    for threshold in candidates:
        predicted = scores >= threshold
        tp = float(np.sum(predicted & truth))
        fp = float(np.sum(predicted & ~truth))
        fn = float(np.sum(~predicted & truth))
        if objective == "f1":
            value = 2 * tp / max(2 * tp + fp + fn, 1.0)
        elif objective == "cost":
            value = -(cost_false_positive * fp + cost_false_negative * fn) / len(truth)
        else:
            raise ValueError(f"threshold objective must be 'f1' or 'cost', got {objective!r}")
        if value > best_value:
            best_threshold, best_value = float(threshold), value
    return best_threshold, float(best_value if objective == "f1" else -best_value)


class ThresholdClassifier(ClassifierMixin, BaseEstimator):
    """A fitted binary classifier whose ``predict`` uses a tuned threshold on the positive class.

    Wrapping the model (rather than storing the threshold beside it) makes every server that
    loads it — MLflow's, Seldon's, the project's own — apply the same threshold.
    """

    def __init__(self, estimator: Any = None, threshold: float = 0.5, positive_class: str | None = None) -> None:
        self.estimator = estimator
        self.threshold = threshold
        self.positive_class = positive_class

    def fit(self, X: Any = None, y: Any = None) -> ThresholdClassifier:
        """Take the already fitted estimator as it is (the threshold was tuned on held-out data)."""
        self.estimator_ = self.estimator
        self.classes_ = np.asarray(self.estimator_.classes_)
        positive = self.positive_class if self.positive_class is not None else self.classes_[-1]
        self.positive_index_ = int(list(self.classes_.astype(str)).index(str(positive)))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        probabilities = self.predict_proba(X)
        positive = probabilities[:, self.positive_index_] >= self.threshold
        other = self.classes_[1 - self.positive_index_]
        return np.where(positive, self.classes_[self.positive_index_], other)
