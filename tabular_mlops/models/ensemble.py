"""Weighted averages of fitted models, chosen greedily on out-of-fold predictions (Caruana et al. 2004)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted


class WeightedEnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Average the class probabilities of fitted members with fixed weights."""

    def __init__(self, estimators: Sequence[tuple[str, Any]] = (), weights: Sequence[float] = ()) -> None:
        self.estimators = estimators
        self.weights = weights

    def fit(self, X: Any, y: Any) -> WeightedEnsembleClassifier:
        """Fit every member (a :class:`FoldBag` keeps its already fitted fold models)."""
        for _, estimator in self.estimators:
            estimator.fit(X, y)
        self.classes_ = np.asarray(self.estimators[0][1].classes_)
        self.estimators_ = [e for _, e in self.estimators]
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        weights = np.asarray(self.weights, dtype=float)
        total = sum(w * np.asarray(e.predict_proba(X)) for w, e in zip(weights, self.estimators_, strict=True))
        return np.asarray(total / weights.sum())

    def predict(self, X: Any) -> np.ndarray:
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]


class WeightedEnsembleRegressor(RegressorMixin, BaseEstimator):
    """Average the predictions of fitted members with fixed weights."""

    def __init__(self, estimators: Sequence[tuple[str, Any]] = (), weights: Sequence[float] = ()) -> None:
        self.estimators = estimators
        self.weights = weights

    def fit(self, X: Any, y: Any) -> WeightedEnsembleRegressor:
        """Fit every member (a :class:`FoldBag` keeps its already fitted fold models)."""
        for _, estimator in self.estimators:
            estimator.fit(X, y)
        self.estimators_ = [e for _, e in self.estimators]
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        weights = np.asarray(self.weights, dtype=float)
        total = sum(w * np.asarray(e.predict(X), dtype=float) for w, e in zip(weights, self.estimators_, strict=True))
        return np.asarray(total / weights.sum())


def greedy_selection(
    predictions: dict[str, np.ndarray],
    score: Callable[[np.ndarray], float],
    greater_is_better: bool,
    rounds: int = 20,
) -> tuple[dict[str, int], float]:
    """Add (with replacement) whichever member improves the averaged prediction most, until none does.

    Returns the member counts (the weights) and the ensemble's score.
    """
    sign = 1.0 if greater_is_better else -1.0
    names = list(predictions)
    singles = {name: score(predictions[name]) for name in names}
    first = max(names, key=lambda n: sign * singles[n])
    chosen = [first]
    total = predictions[first].astype(float).copy()
    best = singles[first]
    for _ in range(rounds):
        trial_scores = {name: score((total + predictions[name]) / (len(chosen) + 1)) for name in names}
        name = max(names, key=lambda n: sign * trial_scores[n])
        if sign * trial_scores[name] <= sign * best + 1e-12:
            break
        chosen.append(name)
        total += predictions[name]
        best = trial_scores[name]
    return dict(Counter(chosen)), best


class FoldBag(BaseEstimator):
    """The K models of a cross-validated trial, averaged ("bagging by cross-validation").

    The members are already fitted (each on K-1 folds), so the bag needs no refit: ``fit`` is a
    no-op kept for the estimator interface. ``log_target`` undoes a log1p target per member.
    """

    def __init__(self, models: Sequence[Any] = (), task: str = "binary", log_target: bool = False) -> None:
        self.models = models
        self.task = task
        self.log_target = log_target

    def fit(self, X: Any = None, y: Any = None) -> FoldBag:
        self.models_ = list(self.models)
        if self.task != "regression":
            self.classes_ = np.asarray(self.models_[0].classes_)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "models_")
        return np.asarray(np.mean([np.asarray(m.predict_proba(X)) for m in self.models_], axis=0))

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "models_")
        if self.task == "regression":
            outputs = [np.asarray(m.predict(X), dtype=float) for m in self.models_]
            if self.log_target:
                outputs = [np.expm1(o) for o in outputs]
            return np.asarray(np.mean(outputs, axis=0))
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]
