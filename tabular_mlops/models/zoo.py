"""The five model families, for binary, multiclass and regression, as scikit-learn estimators.

Each family knows how to build an estimator from parameters, how to fit it with native early
stopping on a validation set (boosted trees and the MLP), and which parameter counts iterations,
so that a refit on more data can reuse the number of iterations early stopping found.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import ElasticNet, LogisticRegression, Ridge
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.validation import check_is_fitted

from tabular_mlops.errors import ConfigError


class EncodedLabelClassifier(ClassifierMixin, BaseEstimator):
    """Wrap a classifier that only takes labels 0..k-1 (XGBoost) so that it takes any labels."""

    def __init__(self, estimator: BaseEstimator | None = None) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, eval_set: tuple[Any, Any] | None = None, **fit_params: Any) -> EncodedLabelClassifier:
        self.label_encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.label_encoder_.classes_
        self.estimator_ = clone(self.estimator)
        if eval_set is not None:
            fit_params["eval_set"] = [(eval_set[0], self.label_encoder_.transform(eval_set[1]))]
        self.estimator_.fit(X, self.label_encoder_.transform(y), **fit_params)
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]

    @property
    def feature_importances_(self) -> np.ndarray:
        return np.asarray(self.estimator_.feature_importances_)


# --------------------------------------------------------------------------- builders
def _linear(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    if task == "regression":
        settings = {k: v for k, v in params.items() if k in {"alpha", "l1_ratio", "max_iter"}}
        if settings.get("l1_ratio"):
            return ElasticNet(**({"alpha": 1e-3, "max_iter": 5000} | settings), random_state=seed)
        settings.pop("l1_ratio", None)
        return Ridge(**({"alpha": 1.0} | settings), random_state=seed)
    settings = {k: v for k, v in params.items() if k in {"C", "max_iter", "class_weight", "tol"}}
    return LogisticRegression(**({"C": 1.0, "max_iter": 2000} | settings), random_state=seed)


def _random_forest(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    settings = {"n_estimators": 300, "min_samples_leaf": 1, "max_features": "sqrt"} | params
    if task == "regression":
        if settings.get("max_features") == "sqrt":
            settings["max_features"] = 0.5
        settings.pop("class_weight", None)
        return RandomForestRegressor(**settings, random_state=seed, n_jobs=n_jobs)
    return RandomForestClassifier(**settings, random_state=seed, n_jobs=n_jobs)


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
    return LGBMRegressor(**settings) if task == "regression" else LGBMClassifier(**settings)


def _xgboost(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    from xgboost import XGBClassifier, XGBRegressor

    defaults: dict[str, Any] = {
        "n_estimators": 400,
        "learning_rate": 0.05,
        "max_depth": 6,
        "min_child_weight": 1.0,
        "subsample": 0.9,
        "colsample_bytree": 0.9,
        "tree_method": "hist",
        "verbosity": 0,
    }
    settings = defaults | params | {"random_state": seed, "n_jobs": n_jobs}
    if task == "regression":
        return XGBRegressor(**settings)
    return EncodedLabelClassifier(XGBClassifier(**settings))


def _mlp(task: str, params: dict[str, Any], seed: int, n_jobs: int) -> BaseEstimator:
    from tabular_mlops.models.mlp import TorchMLPClassifier, TorchMLPRegressor

    settings = dict(params)
    if "hidden_sizes" in settings and isinstance(settings["hidden_sizes"], str):
        settings["hidden_sizes"] = tuple(int(v) for v in settings["hidden_sizes"].split("-"))
    settings |= {"random_state": seed, "n_threads": n_jobs}
    if task == "regression":
        settings.pop("class_weight", None)
        return TorchMLPRegressor(**settings)
    settings.pop("loss", None)
    return TorchMLPClassifier(**settings)


@dataclass(frozen=True)
class Family:
    """A model family: how to build it, and how it counts (and early-stops) iterations."""

    name: str
    build: Callable[[str, dict[str, Any], int, int], BaseEstimator]
    iterations_param: str | None = None

    def fit(
        self,
        estimator: BaseEstimator,
        X: Any,
        y: np.ndarray,
        X_val: Any = None,
        y_val: np.ndarray | None = None,
        early_stopping_rounds: int = 50,
    ) -> int | None:
        """Fit ``estimator``; with a validation set, stop early. Returns the iterations used."""
        if X_val is None or self.iterations_param is None:
            estimator.fit(X, y)
            return None
        if self.name == "lightgbm":
            import lightgbm

            with warnings.catch_warnings():
                # LightGBM 4.7 deprecates eval_set for eval_X/eval_y, but LGBMClassifier does not
                # label-encode eval_y (string classes fail): keep eval_set, without the warning.
                warnings.filterwarnings("ignore", message="The argument 'eval_set' is deprecated")
                estimator.fit(
                    X,
                    y,
                    eval_set=[(X_val, y_val)],
                    callbacks=[
                        lightgbm.early_stopping(early_stopping_rounds, verbose=False),
                        lightgbm.log_evaluation(0),
                    ],
                )
            return int(estimator.best_iteration_ or estimator.n_estimators)
        if self.name == "xgboost":
            inner: Any = estimator.estimator if isinstance(estimator, EncodedLabelClassifier) else estimator
            inner.set_params(early_stopping_rounds=early_stopping_rounds)
            if isinstance(estimator, EncodedLabelClassifier):
                estimator.fit(X, y, eval_set=(X_val, y_val), verbose=False)
                booster = estimator.estimator_
            else:
                estimator.fit(X, y, eval_set=[(X_val, y_val)], verbose=False)
                booster = estimator
            inner.set_params(early_stopping_rounds=None)
            return int(booster.best_iteration) + 1
        if self.name == "mlp":
            estimator.fit(X, y, eval_set=(X_val, y_val))
            return int(estimator.best_epoch_)
        estimator.fit(X, y)
        return None


FAMILIES: dict[str, Family] = {
    "logistic_regression": Family("logistic_regression", _linear),
    "random_forest": Family("random_forest", _random_forest),
    "xgboost": Family("xgboost", _xgboost, iterations_param="n_estimators"),
    "lightgbm": Family("lightgbm", _lightgbm, iterations_param="n_estimators"),
    "mlp": Family("mlp", _mlp, iterations_param="max_iter"),
}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ConfigError(
            f"Unknown model family '{name}' in the training config; known families are {sorted(FAMILIES)}."
        ) from None


def make_estimator(
    family: str, task: str, params: dict[str, Any] | None = None, seed: int = 42, n_jobs: int = 1
) -> BaseEstimator:
    """An unfitted estimator of ``family`` for ``task`` with ``params`` over the defaults.

    ``target_transform: log`` (regression) wraps it so that it learns log1p(y) and predicts y.
    """
    settings = dict(params or {})
    transform = settings.pop("target_transform", "none")
    estimator = get_family(family).build(task, settings, seed, n_jobs)
    if transform == "log" and task == "regression":
        return TransformedTargetRegressor(
            regressor=estimator, func=np.log1p, inverse_func=np.expm1, check_inverse=False
        )
    return estimator
