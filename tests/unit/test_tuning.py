"""Optuna search: budgets, defaults first, top families, pruning, ensembles, MLflow child runs, and a
study shared by two worker processes (and resumed after a kill) in the machine's PostgreSQL."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest

from tabular_mlops.config import CandidateConfig, HPOConfig, SplitConfig, TrainingConfig
from tabular_mlops.data.schema import DatasetSchema, infer_schema
from tabular_mlops.data.splitting import split_frame
from tabular_mlops.features.matrices import FeatureSet, fit_feature_set
from tabular_mlops.features.preprocessing import build_preprocessor
from tabular_mlops.models.ensemble import WeightedEnsembleClassifier, greedy_selection
from tabular_mlops.models.training import train_and_select
from tabular_mlops.models.tuning import create_study, selection_metric, summarize, tune
from tabular_mlops.registry.mlflow_tracking import MlflowTrialLogger
from tests.conftest import PROJECT_ROOT

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CANDIDATES = (
    CandidateConfig("logistic_regression", {"C": 1.0}, {"C": {"low": 0.01, "high": 10.0, "log": True}}),
    CandidateConfig(
        "lightgbm",
        {"n_estimators": 300, "learning_rate": 0.1, "num_leaves": 15},
        {"learning_rate": {"low": 0.03, "high": 0.3, "log": True}, "num_leaves": {"low": 4, "high": 63, "log": True}},
    ),
    CandidateConfig("random_forest", {"n_estimators": 30}, {"min_samples_leaf": {"low": 1, "high": 10}}),
)


@pytest.fixture(scope="module")
def prepared(adult_sample: pd.DataFrame) -> tuple[FeatureSet, DatasetSchema]:
    schema = infer_schema(adult_sample, "income", positive_class=">50K")
    splits = split_frame(adult_sample, "income", "binary", SplitConfig())
    features = fit_feature_set(build_preprocessor(schema), splits.train, splits.validation, schema)
    return features, schema


def config(**hpo: object) -> TrainingConfig:
    base = HPOConfig(timeout_s=20, n_trials=12, cv_folds=3, ensemble=False)
    return TrainingConfig(candidates=CANDIDATES, n_jobs=2, hpo=replace(base, **hpo))  # type: ignore[arg-type]


def test_defaults_first_then_top_families(prepared: tuple[FeatureSet, DatasetSchema]) -> None:
    features, schema = prepared
    result = tune(features, schema, config(top_families=1))
    families = [t.family for t in result.trials]
    assert families[:3] == ["logistic_regression", "lightgbm", "random_forest"]
    best_default = max(result.trials[:3], key=lambda t: t.score).family
    assert set(families[3:]) <= {best_default}
    first = result.trials[1]
    assert first.params["learning_rate"] == 0.1 and first.params["num_leaves"] == 15
    assert result.evaluation == "3-fold CV" and set(result.best.metrics_std) >= {"roc_auc", "accuracy"}


def test_budgets_end_the_search(prepared: tuple[FeatureSet, DatasetSchema]) -> None:
    features, schema = prepared
    started = time.monotonic()
    result = tune(features, schema, config(timeout_s=6, n_trials=500))
    assert time.monotonic() - started < 6 + 8  # the trial in flight may finish
    assert 3 <= len(result.trials) < 500
    by_trials = tune(features, schema, config(timeout_s=600, n_trials=5))
    assert len(by_trials.trials) == 5


def test_fold_wise_pruning(prepared: tuple[FeatureSet, DatasetSchema]) -> None:
    features, schema = prepared
    result = tune(features, schema, config(cv_folds=5, n_trials=30, timeout_s=60, top_families=0))
    states = {t.state for t in result.trials}
    assert "pruned" in states and "complete" in states
    completed = [t for t in result.study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(len(t.intermediate_values) == 5 for t in completed)


def test_selection_refits_on_train_and_validation(prepared: tuple[FeatureSet, DatasetSchema]) -> None:
    features, schema = prepared
    result = train_and_select(features, build_preprocessor(schema), schema, config(n_trials=6))
    assert result.refit_rows == features.X_train.shape[0] + features.X_validation.shape[0]
    table = result.selection_table()
    assert table["selected"].sum() == 1 and "cv_roc_auc_std" in table.columns
    assert set(table["family"]) == {"logistic_regression", "lightgbm", "random_forest"}


def test_threads_are_shared_by_parallel_trials() -> None:
    assert TrainingConfig(n_jobs=2, hpo=HPOConfig(parallel_trials=2)).model_threads == 1
    assert TrainingConfig(n_jobs=8, hpo=HPOConfig(parallel_trials=2)).model_threads == 4
    assert TrainingConfig(n_jobs=2).model_threads == 2


def test_greedy_ensemble_combines_complementary_models() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 2000)
    a = np.clip(truth + rng.normal(0, 0.8, 2000), 0, 1)
    b = np.clip(truth + rng.normal(0, 0.8, 2000), 0, 1)
    from sklearn.metrics import roc_auc_score

    weights, score = greedy_selection({"a": a, "b": b}, lambda p: roc_auc_score(truth, p), True)
    assert set(weights) == {"a", "b"} and score > max(roc_auc_score(truth, a), roc_auc_score(truth, b))
    solo, _ = greedy_selection({"a": a, "noise": rng.uniform(size=2000)}, lambda p: roc_auc_score(truth, p), True)
    assert solo == {"a": 1}


def test_weighted_ensemble_averages_probabilities(adult_sample: pd.DataFrame) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    X = adult_sample[["age", "hours-per-week", "educational-num"]].to_numpy()
    y = adult_sample["income"].to_numpy()
    ensemble = WeightedEnsembleClassifier(
        [("lr", LogisticRegression()), ("tree", DecisionTreeClassifier(max_depth=3))], weights=[3, 1]
    ).fit(X, y)
    lr, tree = ensemble.estimators_
    expected = (3 * lr.predict_proba(X) + tree.predict_proba(X)) / 4
    np.testing.assert_allclose(ensemble.predict_proba(X), expected)


def test_each_trial_is_a_child_mlflow_run(prepared: tuple[FeatureSet, DatasetSchema], tmp_path: Path) -> None:
    features, schema = prepared
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("tuning", artifact_location=(tmp_path / "a").as_uri())
    parent = client.create_run(experiment)
    result = tune(
        features, schema, config(n_trials=5), callbacks=(MlflowTrialLogger(parent.info.run_id, experiment, uri),)
    )
    children = client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(children) == len(result.trials) == 5
    child = next(c for c in children if c.data.tags["optuna_trial"] == "1")
    assert child.data.tags["family"] == "lightgbm" and "cv_roc_auc" in child.data.metrics


# --------------------------------------------------------------------------- PostgreSQL-backed studies
def _postgres_or_skip() -> str:
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(POSTGRES_URL)
        with engine.connect():
            pass
    except Exception as exc:  # noqa: BLE001 - any failure means: no server to test against
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} (set TEST_POSTGRES_URL): {exc}")
    return POSTGRES_URL


def test_two_worker_processes_share_one_postgres_study(prepared: tuple[FeatureSet, DatasetSchema]) -> None:
    url = _postgres_or_skip()
    features, schema = prepared
    name = f"test-shared-{uuid.uuid4().hex[:8]}"
    try:
        result = tune(
            features, schema, config(storage=url, parallel_trials=2, n_trials=16, timeout_s=40), study_name=name
        )
        workers = {t.worker for t in result.trials if t.state == "complete"}
        assert len(workers) == 2, workers  # this process and the spawned one
        stored = optuna.load_study(study_name=name, storage=url)
        assert len(stored.trials) == len(result.trials) >= 10
    finally:
        optuna.delete_study(study_name=name, storage=url)


def test_interrupted_postgres_study_resumes(tmp_path: Path) -> None:
    url = _postgres_or_skip()
    name = f"test-resume-{uuid.uuid4().hex[:8]}"
    script = PROJECT_ROOT / "tests" / "unit" / "hpo_worker.py"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    worker = subprocess.Popen([sys.executable, str(script), url, name, "600"], env=env, cwd=PROJECT_ROOT)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            time.sleep(2)
            try:
                done = [t for t in optuna.load_study(study_name=name, storage=url).trials if t.state.is_finished()]
            except KeyError:
                continue
            if len(done) >= 4:
                break
        worker.send_signal(signal.SIGKILL)  # interrupted mid-search, a trial probably in flight
        worker.wait(timeout=30)
        time.sleep(3.5)  # its trial counts as dead once silent for 3 heartbeats (1 s each here)
        before = optuna.load_study(study_name=name, storage=url)
        finished_before = sum(1 for t in before.trials if t.state.is_finished())
        assert finished_before >= 4
        resumed = subprocess.run(
            [sys.executable, str(script), url, name, "30", str(finished_before + 4)],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        after = optuna.load_study(study_name=name, storage=url)
        states = [t.state for t in after.trials]
        assert sum(s.is_finished() for s in states) >= finished_before + 4
        assert optuna.trial.TrialState.RUNNING not in states  # the killed worker's trial was failed (and retried)
    finally:
        worker.kill()
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=url)


def test_trial_orphaned_before_its_first_heartbeat_is_failed_and_retried(tmp_path: Path) -> None:
    # A worker killed between taking a trial and recording its first heartbeat: optuna alone never
    # fails that trial (it only looks at heartbeats), so a resumed study would keep it RUNNING.
    url = f"sqlite:///{tmp_path / 'study.db'}"
    settings = config(storage=url, heartbeat_s=1)
    metric = selection_metric("binary", settings.selection_metric)
    study = create_study(settings, metric, "orphans")
    storage = study._storage
    orphan = study.ask()  # RUNNING, no heartbeat recorded
    alive = study.ask()
    storage.record_heartbeat(alive._trial_id)  # a live worker's trial: left alone
    fresh_orphan_study = create_study(settings, metric, "orphans")  # within the grace period: left alone
    assert fresh_orphan_study.trials[orphan.number].state == optuna.trial.TrialState.RUNNING
    time.sleep(3.2)
    storage.record_heartbeat(alive._trial_id)
    resumed = create_study(settings, metric, "orphans")
    states = {t.number: t.state for t in resumed.trials}
    assert states[orphan.number] == optuna.trial.TrialState.FAIL
    assert states[alive.number] == optuna.trial.TrialState.RUNNING
    retries = [t for t in resumed.trials if t.system_attrs.get("failed_trial") == orphan.number]
    assert [t.state for t in retries] == [optuna.trial.TrialState.WAITING]
    assert retries[0].params == resumed.trials[orphan.number].params


def test_summary_lists_only_trials_that_ran() -> None:
    # The budget ran out before every enqueued default started: those never ran, so they are not
    # trials of the report (nor of the MLflow child runs, which are written as trials finish).
    settings = config()
    metric = selection_metric("binary", settings.selection_metric)
    study = create_study(settings, metric, "summary")
    first = study.ask()
    first.set_user_attr("family", first.suggest_categorical("family", [c.family for c in CANDIDATES]))
    study.tell(first, 0.8)
    result = summarize(study, metric, "3-fold CV", 1.0)
    assert len(study.trials) == len(CANDIDATES)  # the rest still WAITING
    assert [(t.number, t.state) for t in result.trials] == [(0, "complete")]


def test_parallel_trials_overlap_and_split_the_threads(prepared: tuple[FeatureSet, DatasetSchema]) -> None:
    features, schema = prepared
    result = tune(features, schema, config(parallel_trials=2, n_trials=8, timeout_s=60, cv_folds=1))
    trials = [t for t in result.study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert {t.user_attrs["threads"] for t in trials} == {1}  # n_jobs=2 shared by 2 parallel trials
    spans = sorted((t.datetime_start, t.datetime_complete) for t in trials)
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))  # they overlapped
