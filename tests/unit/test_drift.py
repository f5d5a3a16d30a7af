"""Drift monitoring on real Adult rows with Evidently: a shifted batch is flagged, a held-out one is not."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tabular_mlops.config import MonitoringConfig, monitoring_config_from_dict
from tabular_mlops.errors import ConfigError
from tabular_mlops.monitoring.drift import EMPTY_METHOD, DriftResult, compute_drift, write_prometheus_textfile
from tabular_mlops.serving.batch import predict_outputs
from tests.conftest import fit_model

CONFIG = MonitoringConfig(reference_max_rows=10_000)


def shifted(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Older people working longer hours, mostly self-employed executives with a master's degree."""
    out = frame.copy()
    rng = np.random.default_rng(seed)
    out["age"] = out["age"] + 15
    out["hours-per-week"] = out["hours-per-week"] + 12
    for column, value in (("workclass", "Self-emp-inc"), ("occupation", "Exec-managerial"), ("education", "Masters")):
        chosen = rng.random(len(out)) < 0.8
        out.loc[chosen, column] = value
        if column == "education":
            out.loc[chosen, "educational-num"] = 14.0
    return out


@pytest.fixture(scope="module")
def setting(adult_frame: pd.DataFrame) -> dict[str, Any]:
    """A model trained on reference rows, and two batches of rows it never saw."""
    reference = adult_frame.sample(n=10_000, random_state=0)
    unseen = adult_frame.drop(reference.index)
    model, schema = fit_model(reference.head(4000), "income", n_estimators=40)

    def run(batch: pd.DataFrame) -> DriftResult:
        return compute_drift(
            reference,
            batch,
            schema,
            CONFIG,
            reference_predictions=predict_outputs(model, schema, reference),
            current_predictions=predict_outputs(model, schema, batch),
            model_name="adult-drift-test",
            model_version="3",
        )

    return {
        "schema": schema,
        "reference": reference,
        "held_out": run(unseen.sample(n=2000, random_state=1)),
        "shifted": run(shifted(unseen.sample(n=2000, random_state=2))),
    }


def test_shifted_batch_is_flagged_naming_the_columns(setting: dict[str, Any]) -> None:
    result: DriftResult = setting["shifted"]
    assert result.drift_detected
    assert result.drift_share > CONFIG.drift_share_threshold
    assert {"age", "hours-per-week", "workclass", "occupation", "education"} <= set(result.drifted_columns)
    assert "capital-gain" not in result.drifted_columns and "race" not in result.drifted_columns
    age = next(c for c in result.columns if c.column == "age")
    assert age.kind == "numeric" and age.drifted and age.score > age.threshold
    assert len(result.columns) == len(setting["schema"].feature_names) == 14
    summary = result.summary()
    assert "drift detected" in summary and "age (" in summary and "occupation (" in summary
    assert result.gate().startswith(f"drift detected: {result.n_drifted} of 14 feature columns drifted")
    # The model's outputs move with its inputs: more high earners among older executives.
    assert result.prediction_drift_detected
    assert [c.column for c in result.predictions] == ["prediction", "probability_>50K"]
    assert result.prediction_drift_score is not None and result.prediction_drift_score > 0.1


def test_held_out_sample_of_the_same_data_is_not_flagged(setting: dict[str, Any]) -> None:
    result: DriftResult = setting["held_out"]
    assert not result.drift_detected
    assert result.drift_share <= 0.15, result.summary()
    assert not result.prediction_drift_detected, result.summary()
    assert result.gate().startswith("no drift:")
    assert (result.reference_rows, result.current_rows) == (10_000, 2000)


def test_report_numbers_and_html(setting: dict[str, Any]) -> None:
    result: DriftResult = setting["shifted"]
    assert result.html.lstrip().lower().startswith("<html") or "<html" in result.html[:2000].lower()
    assert "age" in result.html and len(result.html) > 100_000
    assert result.data_summary["rows"] == 2000 and 0 <= result.data_summary["missing_values_share"] < 1
    metrics = result.metrics()
    assert metrics["drift_detected"] == 1.0 and metrics["drift_share"] == pytest.approx(result.drift_share)
    assert metrics["drift_score.age"] > 0.1 and "drift_score.probability__50K" in metrics
    data = json.loads(json.dumps(result.to_dict()))
    assert data["drifted_columns"] == result.drifted_columns and "html" not in data


def test_prometheus_textfile_is_node_exporter_format(setting: dict[str, Any], tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    result: DriftResult = setting["shifted"]
    path = write_prometheus_textfile(result, tmp_path / "textfile" / "drift.prom", 'adult "income"')
    text = path.read_text()
    assert text.endswith("\n") and not list(path.parent.glob(".*.tmp"))
    assert "# TYPE tabular_drift_share gauge" in text.splitlines()
    assert 'tabular_drift_detected{model="adult \\"income\\""} 1.0' in text.splitlines()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert set(families) >= {
        "tabular_drift_share",
        "tabular_drift_detected",
        "tabular_prediction_drift_detected",
        "tabular_drift_last_run_timestamp_seconds",
    }
    for family in families.values():
        assert family.type == "gauge" and family.documentation
        (sample,) = family.samples
        assert sample.labels == {"model": 'adult "income"'}
    assert families["tabular_drift_share"].samples[0].value == pytest.approx(result.drift_share)
    assert families["tabular_prediction_drift_detected"].samples[0].value == 1.0
    assert families["tabular_drift_last_run_timestamp_seconds"].samples[0].value == pytest.approx(result.timestamp)
    with pytest.raises(ConfigError, match=r"must end in \.prom"):
        write_prometheus_textfile(result, tmp_path / "drift.txt", "m")


def test_column_empty_in_new_data_is_drifted_and_unknown_method_is_named(setting: dict[str, Any]) -> None:
    reference = setting["reference"].head(3000)
    batch = setting["reference"].tail(1000).copy()
    batch["occupation"] = None
    config = MonitoringConfig(reference_max_rows=3000)
    result = compute_drift(reference, batch, setting["schema"], config)
    occupation = next(c for c in result.columns if c.column == "occupation")
    assert occupation.drifted and occupation.method == EMPTY_METHOD and math.isnan(occupation.threshold)
    assert result.predictions == [] and result.prediction_drift_score is None
    with pytest.raises(ConfigError, match=r"monitoring\.stattest: No stattest found of name nonsense"):
        compute_drift(reference, batch, setting["schema"], MonitoringConfig(stattest="nonsense"))


def test_monitoring_config_is_checked() -> None:
    assert monitoring_config_from_dict(None) == MonitoringConfig()
    assert MonitoringConfig().textfile_path("adult-income") == "monitoring/drift-adult-income.prom"
    assert MonitoringConfig(prometheus_textfile=None).textfile_path("m") is None
    with pytest.raises(ConfigError, match="drift_share_threshold"):
        MonitoringConfig(drift_share_threshold=1.5)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['drift_share'\]"):
        monitoring_config_from_dict({"drift_share": 0.3})


def test_regression_prediction_drift(adult_sample: pd.DataFrame, adult_frame: pd.DataFrame) -> None:
    """A regression model's numeric output drifts when its inputs do, and only then."""
    frame = adult_frame.drop(columns=["income"])
    model, schema = fit_model(adult_sample.drop(columns=["income"]), "educational-num", n_estimators=30)
    assert schema.task == "regression"
    reference = frame.sample(n=3000, random_state=4)
    unseen = frame.drop(reference.index)
    config = MonitoringConfig(reference_max_rows=3000)

    def run(batch: pd.DataFrame) -> DriftResult:
        return compute_drift(
            reference,
            batch,
            schema,
            config,
            reference_predictions=predict_outputs(model, schema, reference),
            current_predictions=predict_outputs(model, schema, batch),
        )

    calm = run(unseen.sample(n=1500, random_state=5))
    moved = run(shifted(unseen.sample(n=1500, random_state=6)))
    assert [(c.column, c.kind) for c in moved.predictions] == [("prediction", "numeric")]
    assert moved.prediction_drift_detected and not calm.prediction_drift_detected
    assert moved.drift_detected and not calm.drift_detected and "age" in moved.drifted_columns
