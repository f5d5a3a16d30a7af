"""Evaluation: metrics and intervals, threshold tuning, plots, SHAP, the model card, the gates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabular_mlops.config import EvaluationConfig, SplitConfig
from tabular_mlops.data.schema import infer_schema
from tabular_mlops.data.splitting import split_frame
from tabular_mlops.evaluation.explain import explain, readable_names, shap_pngs
from tabular_mlops.evaluation.metrics import bootstrap_interval, classification_metrics, regression_metrics
from tabular_mlops.evaluation.model_card import ModelCardFacts, model_card_markdown
from tabular_mlops.evaluation.report import evaluate_on_test
from tabular_mlops.evaluation.threshold import ThresholdClassifier, tune_threshold
from tabular_mlops.registry.gates import GateReport, champion_rule, check_gates, merge_gates, parse_gates
from tests.conftest import fit_model

PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def adult_split(adult_sample: pd.DataFrame):
    return split_frame(adult_sample, "income", "binary", SplitConfig(test_size=0.3))


def test_classification_metrics_cover_the_issue_list() -> None:
    y = np.array(["a", "b", "b", "a", "b"])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3], [0.1, 0.9]])
    m = classification_metrics(y, np.array(["a", "b", "a", "a", "b"]), proba, ["a", "b"], positive_class="b")
    assert set(m) >= {"accuracy", "precision", "recall", "f1", "f1_macro", "roc_auc", "pr_auc", "log_loss", "brier"}
    r = regression_metrics(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 4.0]))
    assert set(r) == {"mse", "rmse", "mae", "r2", "mape"} and r["mape"] == pytest.approx(1 / 6)


def test_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(10, 2, 2000)
    low, high = bootstrap_interval(lambda rows: float(values[rows].mean()), len(values), 300)
    assert low < values.mean() < high and high - low < 0.5


def test_threshold_tuning_and_wrapper(adult_split) -> None:
    model, schema = fit_model(adult_split.train, "income", n_estimators=60)
    proba = model.predict_proba(adult_split.validation[schema.feature_names])[:, 1]
    threshold, f1 = tune_threshold(adult_split.validation["income"].to_numpy(), proba, ">50K")
    assert 0.1 < threshold < 0.6 and f1 > 0.5
    wrapped = ThresholdClassifier(model, threshold=threshold, positive_class=">50K").fit()
    X = adult_split.test[schema.feature_names]
    labels = wrapped.predict(X)
    expected = np.where(model.predict_proba(X)[:, 1] >= threshold, ">50K", "<=50K")
    assert (labels == expected).all()
    costly, _ = tune_threshold(adult_split.validation["income"].to_numpy(), proba, ">50K", "cost", 1.0, 10.0)
    assert costly < threshold  # expensive misses: flag more rows as positive


def test_evaluation_report_binary_has_every_plot(adult_split) -> None:
    model, schema = fit_model(adult_split.train, "income", n_estimators=60)
    result = evaluate_on_test(model, adult_split.test, schema, EvaluationConfig(bootstrap_resamples=100))
    assert set(result.images) == {
        "confusion_matrix.png",
        "roc_curve.png",
        "pr_curve.png",
        "calibration_curve.png",
        "feature_importance.png",
    }
    assert all(data.startswith(PNG) for data in result.images.values())
    low, high = result.intervals["roc_auc"]
    assert low < result.metrics["roc_auc"] < high
    assert sum(map(sum, result.confusion)) == len(adult_split.test)
    assert "confusion matrix" in result.html() and "95% bootstrap CI" in result.html()


def test_evaluation_report_regression_has_residual_plots() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=600), "z": rng.choice(["a", "b"], 600)})
    frame["y"] = 3 * frame["x"] + (frame["z"] == "a") + rng.normal(0, 0.3, 600)
    model, schema = fit_model(frame, "y", n_estimators=50)
    result = evaluate_on_test(model, frame.tail(200), schema, EvaluationConfig(bootstrap_resamples=50))
    assert {"residuals_vs_predicted.png", "residual_histogram.png", "residual_qq.png"} <= set(result.images)
    assert set(result.intervals) == {"rmse", "r2"}


@pytest.mark.parametrize(
    ("family", "method"), [("lightgbm", "tree"), ("logistic_regression", "linear"), ("mlp", "permutation")]
)
def test_shap_explains_each_kind_of_model(adult_split, family: str, method: str) -> None:
    params = {"n_estimators": 40} if family == "lightgbm" else {"max_iter": 5} if family == "mlp" else {}
    model, schema = fit_model(adult_split.train, "income", family=family, **params)
    explanation = explain(model, adult_split.train, schema, max_rows=80, background_rows=20, time_budget_s=20)
    assert explanation.method == method
    assert explanation.values.shape[1] == len(explanation.feature_names)
    assert any(name.startswith("marital-status=") for name, _ in explanation.top_features(10))
    images = shap_pngs(explanation)
    assert set(images) == {"shap_summary.png", "shap_importance.png"} and all(
        v.startswith(PNG) for v in images.values()
    )


def test_readable_feature_names(adult_sample: pd.DataFrame) -> None:
    schema = infer_schema(adult_sample, "income")
    names = [
        "numeric__age",
        "onehot__marital-status_Never-married",
        "onehot__workclass_infrequent_sklearn",
        "target_encoded__native-country",
    ]
    assert readable_names(names, schema) == [
        "age",
        "marital-status=Never-married",
        "workclass=(rare)",
        "native-country (target-encoded)",
    ]


def test_gates_report_by_how_much() -> None:
    defaults = {"binary": {"f1": ">= 0.8", "accuracy": ">= 0.85", "roc_auc": ">= 0.9"}, "champion_margin": 0.0}
    gates, _ = parse_gates(defaults, "binary")
    results = check_gates({"f1": 0.70, "accuracy": 0.87, "roc_auc": 0.93}, gates)
    report = GateReport(results)
    assert not report.passed and [r.metric for r in report.failed] == ["f1"]
    assert "f1 0.7000 >= 0.8: FAILED by 0.1000" in report.summary()
    adult = merge_gates(defaults, {"binary": {"f1": ">= 0.68"}})
    gates, _ = parse_gates(adult, "binary")
    assert GateReport(check_gates({"f1": 0.70}, gates)).passed
    worse = champion_rule("binary", {"roc_auc": 0.90}, {"roc_auc": 0.92}, 0.0, "3")
    assert worse is not None and not worse.passed and "champion v3" in worse.message
    with pytest.raises(Exception, match="is not a rule"):
        parse_gates({"binary": {"f1": "at least 0.8"}}, "binary")


def test_model_card_has_every_section(adult_sample: pd.DataFrame) -> None:
    schema = infer_schema(adult_sample, "income", positive_class=">50K")
    card = model_card_markdown(
        ModelCardFacts(
            model_name="adult-income",
            model_version="3",
            stage="staging",
            description="",
            dataset={"path": "x.csv"},
            schema=schema,
            data_sha256="ab" * 32,
            training={"family": "lightgbm", "trials": 12},
            metrics={"roc_auc": 0.93},
            intervals={"roc_auc": (0.92, 0.94)},
            threshold=0.31,
            gates={"results": [{"passed": True, "message": "roc_auc 0.93 >= 0.9: passed"}]},
            top_features=[("age", 0.5)],
            explanation_output="log-odds",
            lineage={"git commit": "abc"},
        )
    )
    for section in (
        "## Intended use",
        "## Data",
        "## Training",
        "## Test metrics",
        "## Promotion gates",
        "## Top features",
        "## Limitations",
        "## Lineage",
    ):
        assert section in card
    assert "0.9200 - 0.9400" in card and "threshold on P(>50K): 0.310" in card
