import numpy as np
import pandas as pd
import pytest

from tabular_mlops.config import CandidateConfig, SplitConfig, TrainingConfig
from tabular_mlops.data.schema import infer_schema
from tabular_mlops.data.splitting import split_frame
from tabular_mlops.data.validation import normalise_target
from tabular_mlops.errors import ConfigError
from tabular_mlops.evaluation.metrics import classification_metrics, regression_metrics, selection_metric
from tabular_mlops.features.preprocessing import SchemaEnforcer, build_model_pipeline
from tabular_mlops.models.training import train_and_select
from tabular_mlops.models.zoo import make_estimator
from tests.conftest import shared_csv


def test_schema_enforcer_reorders_adds_and_coerces() -> None:
    enforcer = SchemaEnforcer(numeric_features=("a", "b"), categorical_features=("c",)).fit(None)
    out = enforcer.transform(pd.DataFrame({"c": [1, None], "a": ["3.5", "oops"], "extra": [0, 0]}))
    assert list(out.columns) == ["a", "b", "c"]
    assert out["a"].tolist()[0] == 3.5 and np.isnan(out["a"].tolist()[1])
    assert out["b"].isna().all()
    assert out["c"].tolist()[0] == "1" and out["c"].isna().tolist()[1]
    assert list(enforcer.get_feature_names_out()) == ["a", "b", "c"]


def test_pipeline_survives_unseen_categories_and_missing_columns(adult_sample: pd.DataFrame) -> None:
    schema = infer_schema(adult_sample, "income")
    model = build_model_pipeline(schema, make_estimator("logistic_regression", "binary"))
    model.fit(adult_sample[schema.feature_names], adult_sample["income"])
    odd = pd.DataFrame([{"age": 40, "workclass": "Astronaut", "native-country": "Atlantis"}])
    proba = model.predict_proba(odd)
    assert proba.shape == (1, 2) and np.isclose(proba.sum(), 1.0)


def test_unknown_family_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Unknown model family 'svm'"):
        make_estimator("svm", "binary")


def test_selection_uses_validation_and_refits_on_train_plus_validation(adult_sample: pd.DataFrame) -> None:
    schema = infer_schema(adult_sample, "income", positive_class=">50K")
    splits = split_frame(adult_sample, "income", "binary", SplitConfig())
    config = TrainingConfig(
        candidates=(
            CandidateConfig("logistic_regression"),
            CandidateConfig("lightgbm", {"n_estimators": 60}),
        ),
        n_jobs=1,
    )
    result = train_and_select(splits, schema, config)
    aucs = {c.family: c.validation_metrics["roc_auc"] for c in result.candidates}
    assert result.best_family == max(aucs, key=aucs.__getitem__)
    # refit on train + validation: the final model saw more rows than the candidate did
    assert result.model.named_steps["model"].n_features_in_ > 0
    n_refit = result.model.named_steps["preprocess"].named_transformers_["numeric"].named_steps["scale"].n_samples_seen_
    assert n_refit == len(splits.train) + len(splits.validation)
    table = result.selection_table()
    assert table["selected"].sum() == 1 and set(table["family"]) == {"logistic_regression", "lightgbm"}


def test_regression_on_real_data_beats_mean_baseline() -> None:
    from tabular_mlops.data.loading import load_csv

    frame = load_csv(shared_csv("california_housing.csv")).sample(n=4000, random_state=0)
    frame = normalise_target(frame, "MedHouseVal", "regression")
    schema = infer_schema(frame, "MedHouseVal")
    splits = split_frame(frame, schema.target, schema.task, SplitConfig())
    config = TrainingConfig(candidates=(CandidateConfig("lightgbm", {"n_estimators": 100}),), n_jobs=1)
    result = train_and_select(splits, schema, config)
    metrics = result.candidates[0].validation_metrics
    baseline = float(splits.validation["MedHouseVal"].std())
    assert metrics["rmse"] < 0.7 * baseline
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
