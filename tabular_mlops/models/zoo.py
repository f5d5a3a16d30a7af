"""Model families by name, for every task, as scikit-learn estimators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, Ridge

from tabular_mlops.errors import ConfigError


def _logistic_regression(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    if task == "regression":
        ridge_params = {k: v for k, v in params.items() if k in {"alpha"}}
        return Ridge(**ridge_params, random_state=seed)
    defaults: dict[str, Any] = {"C": 1.0, "max_iter": 2000}
    return LogisticRegression(**(defaults | params), random_state=seed)


def _lightgbm(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    from lightgbm import LGBMClassifier, LGBMRegressor

    defaults: dict[str, Any] = {
        "n_estimators": 400,
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_child_samples": 20,
        "subsample": 0.9,
        "subsample_freq": 1,
        "colsample_bytree": 0.9,
        "verbose": -1,
    }
    settings = defaults | params | {"random_state": seed, "n_jobs": n_jobs}
    if task == "regression":
        return LGBMRegressor(**settings)
    return LGBMClassifier(**settings)


FAMILIES: dict[str, Callable[[str, dict[str, Any], int, int], BaseEstimator]] = {
    "logistic_regression": _logistic_regression,
    "lightgbm": _lightgbm,
}


def make_estimator(
    family: str, task: str, params: dict[str, Any] | None = None, seed: int = 42, n_jobs: int = -1
) -> BaseEstimator:
    """An unfitted estimator of ``family`` for ``task`` with ``params`` over the defaults."""
    try:
        factory = FAMILIES[family]
    except KeyError:
        raise ConfigError(
            f"Unknown model family '{family}' in the training config; known families are {sorted(FAMILIES)}."
        ) from None
    return factory(task, dict(params or {}), seed, n_jobs)
