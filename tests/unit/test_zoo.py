"""The five model families, every task, and the PyTorch MLP as a scikit-learn estimator."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_regression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import check_estimator

from tabular_mlops.models.mlp import TorchMLPClassifier, TorchMLPRegressor, select_device
from tabular_mlops.models.zoo import FAMILIES, EncodedLabelClassifier, get_family, make_estimator

FAMILY_NAMES = sorted(FAMILIES)
FAST = {
    "lightgbm": {"n_estimators": 60},
    "xgboost": {"n_estimators": 60},
    "random_forest": {"n_estimators": 30},
    "mlp": {"max_iter": 15, "hidden_sizes": (32,)},
    "logistic_regression": {},
}


def blobs(n_classes: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=n, centers=n_classes, n_features=6, cluster_std=3.0, random_state=0)
    return X, np.array([f"class_{v}" for v in y])


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_family_learns_every_task(family: str, task: str) -> None:
    if task == "regression":
        X, y = make_regression(n_samples=400, n_features=6, noise=5.0, random_state=0)
        model = make_estimator(family, task, FAST[family], seed=0, n_jobs=1)
        assert cross_val_score(model, X, y, cv=3, scoring="r2").mean() > 0.6
        return
    X, y = blobs(2 if task == "binary" else 4)
    model = make_estimator(family, task, FAST[family], seed=0, n_jobs=1)
    model.fit(X[:300], y[:300])
    assert set(model.classes_) == set(y)  # string labels in, string labels out
    assert set(model.predict(X[300:])) <= set(y)
    assert (model.predict(X[300:]) == y[300:]).mean() > 0.7
    assert np.allclose(model.predict_proba(X[300:]).sum(axis=1), 1.0)


@pytest.mark.parametrize("family", ["lightgbm", "xgboost", "mlp"])
def test_native_early_stopping_reports_iterations(family: str) -> None:
    X, y = blobs(2, n=600)
    params = {"lightgbm": {"n_estimators": 2000}, "xgboost": {"n_estimators": 2000}, "mlp": {"max_iter": 200}}[family]
    spec = get_family(family)
    model = spec.build("binary", {**params, **({"hidden_sizes": (16,)} if family == "mlp" else {})}, 0, 1)
    used = spec.fit(model, X[:400], y[:400], X[400:], y[400:], early_stopping_rounds=10)
    assert used is not None and 1 <= used < params[spec.iterations_param or ""]


def test_mlp_passes_check_estimator() -> None:
    for estimator, expected in (
        (
            TorchMLPClassifier(max_iter=30, hidden_sizes=(32,), batch_size=32),
            {
                "check_class_weight_classifiers": (
                    "early stopping on a 5-row validation split ends training before weights as extreme as "
                    "{0: 1000, 1: 1e-4} dominate; test_mlp_class_weights_shift_predictions checks them"
                )
            },
        ),
        (TorchMLPRegressor(max_iter=30, hidden_sizes=(32,), batch_size=32), {}),
    ):
        results = check_estimator(estimator, on_fail=None, expected_failed_checks=expected)
        failed = [r["check_name"] for r in results if r["status"] == "failed"]
        assert not failed, failed


def test_mlp_class_weights_shift_predictions() -> None:
    X, y = blobs(2, n=600)
    plain = TorchMLPClassifier(max_iter=20, random_state=0).fit(X, y)
    weighted = TorchMLPClassifier(max_iter=20, class_weight={"class_0": 50.0}, random_state=0).fit(X, y)
    assert (weighted.predict(X) == "class_0").mean() > (plain.predict(X) == "class_0").mean()
    balanced = TorchMLPClassifier(max_iter=5, class_weight="balanced").fit(X, y)
    assert balanced.predict(X).shape == (600,)


def test_mlp_is_deterministic_and_restores_best_weights() -> None:
    X, y = blobs(2, n=500)
    first = TorchMLPClassifier(max_iter=40, n_iter_no_change=3, random_state=7).fit(X, y)
    second = TorchMLPClassifier(max_iter=40, n_iter_no_change=3, random_state=7).fit(X, y)
    np.testing.assert_allclose(first.predict_proba(X), second.predict_proba(X), rtol=1e-6)
    assert first.best_epoch_ <= first.n_iter_
    losses = [h["val_loss"] for h in first.history_]
    assert first.best_validation_loss_ == pytest.approx(min(losses))
    assert first.device_ == str(select_device("auto")) and first.amp_dtype_ in {"float32", "bfloat16", "float16"}


def test_mlp_takes_sparse_input_and_learns() -> None:
    import scipy.sparse as sp

    X, y = blobs(2, n=600)
    X = np.abs(X)
    model = TorchMLPClassifier(max_iter=30).fit(sp.csr_matrix(X[:400]), y[:400])
    scores = model.predict_proba(sp.csr_matrix(X[400:]))[:, 1]
    assert roc_auc_score(y[400:] == "class_1", scores) > 0.9


def test_mlp_regressor_lr_schedules_and_losses() -> None:
    X, y = make_regression(n_samples=300, n_features=5, noise=1.0, random_state=1)
    for schedule in ("onecycle", "cosine", "plateau", "none"):
        model = TorchMLPRegressor(max_iter=40, lr_schedule=schedule, loss="huber", learning_rate=3e-3).fit(X, y)
        assert model.score(X, y) > 0.8, schedule
    with pytest.raises(ValueError, match="lr_schedule"):
        TorchMLPRegressor(lr_schedule="warp").fit(X, y)


def test_encoded_label_classifier_keeps_string_labels() -> None:
    from xgboost import XGBClassifier

    X, y = blobs(3)
    model = EncodedLabelClassifier(XGBClassifier(n_estimators=20, verbosity=0)).fit(X, y)
    assert list(model.classes_) == ["class_0", "class_1", "class_2"]
    assert model.predict(X[:5]).dtype.kind in "UO"
