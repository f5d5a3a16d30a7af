"""Model zoo, candidate selection and metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabular_mlops.config import CandidateConfig, HPOConfig, SplitConfig, TrainingConfig
from tabular_mlops.data.prepare import load_typed
from tabular_mlops.data.schema import infer_schema
from tabular_mlops.data.splitting import split_frame
from tabular_mlops.errors import ConfigError
from tabular_mlops.evaluation.metrics import classification_metrics, regression_metrics, selection_metric
from tabular_mlops.features.matrices import fit_feature_set
from tabular_mlops.features.preprocessing import build_preprocessor
from tabular_mlops.models.training import train_and_select
from tabular_mlops.models.zoo import make_estimator
from tests.conftest import shared_csv


def test_unknown_family_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Unknown model family 'svm'"):
        make_estimator("svm", "binary")


def test_selection_uses_validation_and_refits_on_train_plus_validation(adult_sample: pd.DataFrame) -> None:
    schema = infer_schema(adult_sample, "income", positive_class=">50K")
    splits = split_frame(adult_sample, "income", "binary", SplitConfig())
    preprocessor = build_preprocessor(schema)
    features = fit_feature_set(preprocessor, splits.train, splits.validation, schema)
    config = TrainingConfig(
        candidates=(CandidateConfig("logistic_regression"), CandidateConfig("lightgbm", {"n_estimators": 60})),
        n_jobs=1,
        hpo=HPOConfig(enabled=False, ensemble=False),
    )
    result = train_and_select(features, preprocessor, schema, config)
    aucs = {c.family: c.validation_metrics["roc_auc"] for c in result.candidates}
    assert result.best_family == max(aucs, key=aucs.__getitem__)
    assert result.refit_rows == len(splits.train) + len(splits.validation)
    proba = result.model.predict_proba(splits.test[schema.feature_names])
    assert proba.shape == (len(splits.test), 2)
    table = result.selection_table()
    assert table["selected"].sum() == 1 and set(table["family"]) == {"logistic_regression", "lightgbm"}


def test_regression_on_real_data_beats_mean_baseline() -> None:
    prepared = load_typed(str(shared_csv("california_housing.csv")), "MedHouseVal")
    frame = prepared.frame.sample(n=4000, random_state=0)
    schema = prepared.schema
    splits = split_frame(frame, schema.target, schema.task, SplitConfig())
    preprocessor = build_preprocessor(schema)
    features = fit_feature_set(preprocessor, splits.train, splits.validation, schema)
    config = TrainingConfig(
        candidates=(CandidateConfig("lightgbm", {"n_estimators": 100}),), n_jobs=1, hpo=HPOConfig(enabled=False)
    )
    result = train_and_select(features, preprocessor, schema, config)
    metrics = result.candidates[0].validation_metrics
    assert metrics["rmse"] < 0.7 * float(splits.validation["MedHouseVal"].std())
    assert result.selection_metric == "rmse"


def test_metric_names_and_directions() -> None:
    assert selection_metric("binary").name == "roc_auc"
    assert not selection_metric("regression").greater_is_better
    assert not selection_metric("binary", "log_loss").greater_is_better
    m = classification_metrics(
        np.array(["a", "b", "b", "a"]),
        np.array(["a", "b", "a", "a"]),
        np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]]),
        ["a", "b"],
        positive_class="b",
    )
    assert m["accuracy"] == 0.75 and m["recall"] == 0.5 and m["roc_auc"] == 1.0
    r = regression_metrics(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    assert r["rmse"] == pytest.approx(np.sqrt(2.0)) and r["mae"] == 1.0
