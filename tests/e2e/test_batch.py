"""Batch inference and drift monitoring through the CLI: a model trained on Adult predicts a held-out
batch (no drift) and a shifted one (drift), `monitor` re-checks a predictions file, and the drift
gate can make the command fail for a scheduler."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import BUNDLED_ADULT, PROJECT_ROOT
from tests.e2e.conftest import QUICK, run_cli

pytestmark = pytest.mark.e2e

MODEL = "adult-batch"


@pytest.fixture(scope="module")
def files(session_dir: Path) -> dict[str, Path]:
    """Training rows, a held-out batch from the same data, and a shifted batch (older, longer hours,
    mostly self-employed executives with a master's degree), all as text CSVs."""
    full = pd.read_csv(BUNDLED_ADULT, dtype=str, keep_default_na=False)
    train = full.sample(n=3000, random_state=31)
    unseen = full.drop(train.index)
    same = unseen.sample(n=1500, random_state=32)  # keeps its target column: extra columns pass through
    shifted = unseen.sample(n=1500, random_state=33).drop(columns=["income"])
    rng = np.random.default_rng(0)
    shifted["age"] = (shifted["age"].astype(int) + 15).astype(str)
    shifted["hours-per-week"] = (shifted["hours-per-week"].astype(int) + 12).astype(str)
    for column, value in (("workclass", "Self-emp-inc"), ("occupation", "Exec-managerial"), ("education", "Masters")):
        chosen = rng.random(len(shifted)) < 0.8
        shifted.loc[chosen, column] = value
        if column == "education":
            shifted.loc[chosen, "educational-num"] = "14"
    folder = session_dir / "batch"
    folder.mkdir(exist_ok=True)
    paths = {"train": folder / "train.csv", "same": folder / "same.csv", "shifted": folder / "shifted.csv"}
    for name, frame in (("train", train), ("same", same), ("shifted", shifted)):
        frame.to_csv(paths[name], index=False)
    paths["no_age"] = folder / "no_age.csv"
    same.drop(columns=["age"]).to_csv(paths["no_age"], index=False)
    return paths


@pytest.fixture(scope="module")
def version(files: dict[str, Path]) -> str:
    run_cli("stacks")
    trained = run_cli("train", "--data", str(files["train"]), "--target", "income", "--model-name", MODEL, *QUICK)
    assert trained["model_name"] == MODEL and trained["stage"] != "production"
    return str(trained["model_version"])


def test_without_production_version_the_version_is_needed(files: dict[str, Path], version: str) -> None:
    error = run_cli("predict", "--data", str(files["same"]), "--model-name", MODEL, expect_ok=False)["error"]
    assert f"Model '{MODEL}' has no production version yet" in error and "pass --version" in error
    error = run_cli("predict", "--data", str(files["same"]), "--model-name", "no-such-model", expect_ok=False)["error"]
    assert "No registered model named 'no-such-model'" in error
    error = run_cli(
        "predict", "--data", str(files["no_age"]), "--model-name", MODEL, "--version", version, expect_ok=False
    )["error"]
    assert "no_age.csv' lacks the feature column(s) ['age']" in error


def test_predict_then_monitor_flags_only_the_shifted_batch(
    files: dict[str, Path], version: str, session_dir: Path
) -> None:
    from prometheus_client.parser import text_string_to_metric_families
    from zenml.client import Client

    prom = session_dir / "textfile" / f"drift-{MODEL}.prom"
    model = ("--model-name", MODEL, "--version", version, "--prom-file", str(prom))

    same = run_cli("predict", "--data", str(files["same"]), *model)
    assert same["command"] == "predict" and same["model_version"] == version and same["rows"] == 1500
    assert Path(same["output_path"]) == files["same"].with_name("same.predictions.csv")
    written = pd.read_csv(same["output_path"])
    assert len(written) == 1500 and written["prediction"].notna().all() and "income" in written.columns
    assert set(written["prediction"]) <= {"<=50K", ">50K"} and written["probability_>50K"].between(0, 1).all()
    assert not same["drift_detected"] and same["drift_share"] <= 0.15, same["drift_summary"]
    assert not same["prediction_drift_detected"] and same["gate"].startswith("no drift")
    assert "tabular_drift_detected" in prom.read_text()

    out = session_dir / "batch" / "out" / "shifted_scored.csv"
    shifted = run_cli("predict", "--data", str(files["shifted"]), "--out", str(out), *model)
    assert Path(shifted["output_path"]) == out and len(pd.read_csv(out)) == 1500
    assert shifted["drift_detected"] and shifted["drift_share"] > 0.3, shifted["drift_summary"]
    assert {"age", "hours-per-week", "workclass", "occupation"} <= set(shifted["drifted_columns"])
    assert shifted["prediction_drift_detected"] and "age (" in shifted["drift_summary"]
    gauges = {f.name: f.samples[0] for f in text_string_to_metric_families(prom.read_text())}
    assert gauges["tabular_drift_detected"].value == 1.0 and gauges["tabular_drift_detected"].labels == {"model": MODEL}
    assert gauges["tabular_drift_share"].value == pytest.approx(shifted["drift_share"], abs=1e-6)

    # the dashboard artifact and the MLflow run of the experiment <model>-monitoring
    step = Client().get_pipeline_run(shifted["zenml_run_id"]).steps["monitor_drift"]
    report = step.outputs["drift_report"][0].load()
    assert "<html" in report[:5000].lower() and "hours-per-week" in report
    assert step.run_metadata["drift_detected"] is True
    assert shifted["mlflow_experiment"] == f"{MODEL}-monitoring"
    tracking_uri = run_cli("tracking-uri")["tracking_uri"]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(shifted["mlflow_run_id"])
    assert run.data.metrics["drift_detected"] == 1.0 and run.data.metrics["drift_score.age"] > 0.1
    assert {a.path for a in client.list_artifacts(run.info.run_id, "drift")} == {
        "drift/report.html",
        "drift/result.json",
    }

    # monitor: the predictions file's features and its prediction column, without predicting again
    monitored = run_cli("monitor", "--data", str(out), *model)
    assert monitored["command"] == "monitor" and monitored["rows"] == 1500
    assert monitored["drifted_columns"] == shifted["drifted_columns"]
    assert monitored["prediction_drift_detected"]
    assert monitored["prediction_drift_score"] == pytest.approx(shifted["prediction_drift_score"], rel=1e-6)

    # the gate as an exit code: 3 with --fail-on-drift (or monitoring.fail_on_drift), and why
    command = [sys.executable, str(PROJECT_ROOT / "run.py"), "monitor", "--data", str(out), *model]
    result = subprocess.run(
        [*command, "--fail-on-drift", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 3, result.stderr[-2000:]
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["drift_detected"] and summary["command"] == "monitor"
    assert result.stderr.strip().splitlines()[-1].startswith("error: drift detected: ")
    assert "exits with code 3" in result.stderr
    calm = run_cli("monitor", "--data", same["output_path"], *model, "--fail-on-drift")
    assert not calm["drift_detected"]
