"""Optuna search over model families and their hyper-parameters, within a time and trial budget.

One study covers every candidate family: the first trials are each family's defaults (enqueued),
then TPE samples a family and its parameters. A trial is scored by K-fold cross-validation on
train + validation (stratified for classification; the fold-wise mean is reported so the median
pruner can stop a bad trial early), or, for large data, on the validation split; boosted trees and
the MLP stop early on the held-out part of each fold. Storage is in memory unless an RDB URL is
given: then several worker processes share one study and an interrupted study resumes.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import statistics
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import optuna
import pandas as pd
import scipy.sparse as sp
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState
from sklearn.model_selection import KFold, StratifiedKFold
from threadpoolctl import threadpool_limits

from tabular_mlops.config import CandidateConfig, HPOConfig, TrainingConfig
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.evaluation.metrics import (
    SelectionMetric,
    classification_metrics,
    regression_metrics,
    selection_metric,
)
from tabular_mlops.features.matrices import FeatureSet
from tabular_mlops.models.ensemble import FoldBag, greedy_selection
from tabular_mlops.models.zoo import get_family

logger = logging.getLogger(__name__)

TrialCallback = Callable[[optuna.Study, FrozenTrial], None]
ENSEMBLE_POOL_PER_FAMILY = 2  # best trials per family whose out-of-fold predictions (with CV: fold models) are kept


@dataclass
class TrialRecord:
    """What a finished trial found, in plain types (stored as Optuna user attributes)."""

    number: int
    family: str
    params: dict[str, Any]
    score: float
    metrics_mean: dict[str, float]
    metrics_std: dict[str, float]
    iterations: int | None
    fit_seconds: float
    state: str
    worker: str = ""

    @classmethod
    def from_trial(cls, trial: FrozenTrial) -> TrialRecord:
        attrs = trial.user_attrs
        return cls(
            number=trial.number,
            family=str(attrs.get("family", trial.params.get("family", "?"))),
            params=dict(attrs.get("model_params", {})),
            score=float(trial.value) if trial.value is not None else math.nan,
            metrics_mean=dict(attrs.get("metrics_mean", {})),
            metrics_std=dict(attrs.get("metrics_std", {})),
            iterations=attrs.get("iterations"),
            fit_seconds=float(attrs.get("fit_seconds", 0.0)),
            state=trial.state.name.lower(),
            worker=str(attrs.get("worker", "")),
        )


@dataclass
class TuningResult:
    """The study's outcome: the best trial overall and per family, and the chosen ensemble."""

    study: optuna.Study
    metric: SelectionMetric
    evaluation: str  # "5-fold CV" or "validation split"
    best: TrialRecord
    best_per_family: dict[str, TrialRecord] = field(default_factory=dict)
    trials: list[TrialRecord] = field(default_factory=list)
    seconds: float = 0.0
    ensemble: dict[str, int] = field(default_factory=dict)  # "family-trial" -> weight; empty: the best single
    ensemble_score: float | None = None
    fold_models: dict[int, FoldBag] = field(default_factory=dict)  # CV only: trial -> its bagged fold models
    pool_predictions: dict[int, np.ndarray] = field(default_factory=dict)  # trial -> out-of-fold predictions
    scored_truth: np.ndarray | None = None  # the targets of the rows those predictions are for
    classes: list[str] = field(default_factory=list)

    def selected_predictions(self) -> np.ndarray | None:
        """Out-of-fold predictions of the selected model (the ensemble's weighted average, if any)."""
        if self.ensemble:
            parts = []
            for name, weight in self.ensemble.items():
                number = int(name.rsplit("-", 1)[1])
                if number not in self.pool_predictions:
                    return None
                parts.append(weight * self.pool_predictions[number])
            return np.asarray(sum(parts) / sum(self.ensemble.values()))
        return self.pool_predictions.get(self.best.number)


# --------------------------------------------------------------------------- search spaces
def _choice_key(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return "-".join(str(v) for v in value)
    return value


def suggest(trial: optuna.Trial, family: str, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Sample one value per parameter of ``space``; names are prefixed by the family in Optuna."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        key = f"{family}__{name}"
        if "choices" in spec:
            choices = [_choice_key(c) for c in spec["choices"]]
            params[name] = trial.suggest_categorical(key, choices)
        elif spec.get("type") == "int" or (isinstance(spec["low"], int) and isinstance(spec["high"], int)):
            params[name] = trial.suggest_int(key, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log")))
        else:
            params[name] = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")))
    return params


def default_trial(candidate: CandidateConfig) -> dict[str, Any]:
    """The enqueued first trial of a family: its default parameters, where the space has them."""
    fixed: dict[str, Any] = {"family": candidate.family}
    for name, spec in candidate.search_space.items():
        if name not in candidate.params:
            continue
        value = _choice_key(candidate.params[name])
        if "choices" in spec:
            if value in [_choice_key(c) for c in spec["choices"]]:
                fixed[f"{candidate.family}__{name}"] = value
        elif spec["low"] <= value <= spec["high"]:
            fixed[f"{candidate.family}__{name}"] = value
    return fixed


# --------------------------------------------------------------------------- evaluation
def resolve_folds(config: HPOConfig, n_rows: int) -> int:
    if config.cv_folds == "auto":
        return 5 if n_rows <= config.cv_max_rows else 1
    return int(config.cv_folds)


def _rows(X: Any, index: np.ndarray) -> Any:
    return X[index] if sp.issparse(X) else np.asarray(X)[index]


class Objective:
    """Scores one trial: sample a family and parameters, cross-validate with pruning."""

    def __init__(
        self,
        features: FeatureSet,
        schema: DatasetSchema,
        config: TrainingConfig,
        deadline: float,
    ) -> None:
        self.features = features
        self.schema = schema
        self.config = config
        self.deadline = deadline
        self.metric = selection_metric(schema.task, config.selection_metric)
        self.candidates = {c.family: c for c in config.candidates}
        self.X_all, self.y_all = features.train_and_validation()
        self.folds = resolve_folds(config.hpo, int(self.X_all.shape[0]))
        if self.folds >= 2:
            splitter: KFold | StratifiedKFold
            if schema.task == "regression":
                splitter = KFold(self.folds, shuffle=True, random_state=config.split.seed)
            else:
                splitter = StratifiedKFold(self.folds, shuffle=True, random_state=config.split.seed)
            self.splits = list(splitter.split(np.zeros(len(self.y_all)), self.y_all))
        else:
            n_train = int(features.X_train.shape[0])
            self.splits = [(np.arange(n_train), np.arange(n_train, len(self.y_all)))]
        self.durations: dict[str, list[float]] = {}
        n_scored = len(self.y_all) if self.folds >= 2 else len(self.splits[0][1])
        self.scored_rows = np.arange(len(self.y_all)) if self.folds >= 2 else self.splits[0][1]
        self.n_scored = n_scored
        self.classes = None if schema.task == "regression" else np.unique(self.y_all)
        # family -> its best trials as (score, trial number, out-of-fold predictions), best first
        self.top_predictions: dict[str, list[tuple[float, int, np.ndarray]]] = {}
        self.fold_models: dict[int, FoldBag] = {}  # CV: trial -> its fold models, for the pooled trials
        self.target_transforms = ["none"]
        if schema.task == "regression" and config.hpo.log_target != "never" and float(np.min(self.y_all)) >= 0:
            skew = float(pd.Series(self.y_all).skew())
            if config.hpo.log_target == "always" or skew > 1.0:
                self.target_transforms = ["none", "log"]
        self._lock = threading.Lock()
        self._top: list[str] | None = None

    @property
    def evaluation(self) -> str:
        return f"{self.folds}-fold CV" if self.folds >= 2 else "validation split"

    def _family(self, trial: optuna.Trial) -> str:
        """Enqueued defaults name their family; later trials choose among the top families."""
        families = list(self.candidates)
        if len(families) == 1:
            return families[0]
        fixed = trial.storage.get_trial_system_attrs(trial._trial_id).get("fixed_params") or {}
        if "family" in fixed:
            return str(trial.suggest_categorical("family", families))
        top = self._top_families(trial.study)
        # Only families whose usual trial still fits in the budget.
        left = self.deadline - time.monotonic()
        top = [f for f in top if 0.8 * statistics.median(self.durations.get(f) or [0.0]) <= left]
        if not top:
            trial.study.stop()
            raise optuna.TrialPruned("the time budget is spent")
        if top == families:
            return str(trial.suggest_categorical("family", families))
        if len(top) == 1:
            return top[0]
        return str(trial.suggest_categorical("family_among_" + "+".join(sorted(top)), sorted(top)))

    def _top_families(self, study: optuna.Study) -> list[str]:
        k = self.config.hpo.top_families
        if self._top is not None:
            return self._top
        if not k or k >= len(self.candidates):
            return list(self.candidates)
        best: dict[str, float] = {}
        sign = 1.0 if self.metric.greater_is_better else -1.0
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            family = str(t.user_attrs.get("family", ""))
            if family and t.value is not None:
                best[family] = max(best.get(family, -math.inf), sign * t.value)
        if not set(self.candidates) <= set(best):
            return list(self.candidates)  # defaults still running: keep every family open
        with self._lock:
            self._top = sorted(best, key=lambda f: -best[f])[:k]
        return self._top

    def __call__(self, trial: optuna.Trial) -> float:
        family_name = self._family(trial)
        candidate = self.candidates[family_name]
        family = get_family(family_name)
        params = {**candidate.params, **suggest(trial, family_name, candidate.search_space)}
        if len(self.target_transforms) > 1:
            params["target_transform"] = trial.suggest_categorical("target_transform", self.target_transforms)
        log_target = params.get("target_transform") == "log"
        trial.set_user_attr("family", family_name)
        typical = statistics.median(self.durations[family_name]) if self.durations.get(family_name) else 0.0
        if time.monotonic() + 0.8 * typical > self.deadline:
            raise optuna.TrialPruned("not enough of the time budget left for this family")
        trial.set_user_attr("model_params", _plain(params))
        trial.set_user_attr("worker", f"{os.uname().nodename}:{os.getpid()}")
        trial.set_user_attr("threads", self.config.model_threads)
        trial.set_user_attr("started", time.time())
        started = time.monotonic()
        fold_scores: list[dict[str, float]] = []
        iterations: list[int] = []
        width = 1 if self.classes is None else len(self.classes)
        oof = np.zeros((len(self.y_all), width), dtype=np.float64)
        model_params = {k: v for k, v in params.items() if k != "target_transform"}
        fold_models: list[Any] = []
        for step, (fit_rows, score_rows) in enumerate(self.splits):
            estimator = family.build(self.schema.task, model_params, self.config.split.seed, self.config.model_threads)
            X_fit, y_fit = _rows(self.X_all, fit_rows), self.y_all[fit_rows]
            X_score, y_score = _rows(self.X_all, score_rows), self.y_all[score_rows]
            fit_target, score_target = (np.log1p(y_fit), np.log1p(y_score)) if log_target else (y_fit, y_score)
            used = family.fit(
                estimator, X_fit, fit_target, X_score, score_target, self.config.hpo.early_stopping_rounds
            )
            if used is not None:
                iterations.append(used)
            fold_models.append(estimator)
            predicted = self._predict(estimator, X_score)
            if log_target:
                predicted = np.expm1(predicted)
            oof[score_rows] = predicted
            fold_scores.append(self.scores(predicted, y_score))
            running = float(np.mean([s[self.metric.name] for s in fold_scores]))
            if len(self.splits) > 1 and self.config.hpo.pruning:
                trial.report(running, step)
                if trial.should_prune():
                    self._record_duration(family_name, started, len(fold_scores))
                    raise optuna.TrialPruned(f"fold {step + 1}: {self.metric.name} {running:.4f}")
        self._record_duration(family_name, started, len(fold_scores))
        names = fold_scores[0].keys()
        trial.set_user_attr("metrics_mean", {k: float(np.mean([s[k] for s in fold_scores])) for k in names})
        trial.set_user_attr("metrics_std", {k: float(np.std([s[k] for s in fold_scores])) for k in names})
        trial.set_user_attr("iterations", int(np.mean(iterations)) if iterations else None)
        trial.set_user_attr("fit_seconds", round(time.monotonic() - started, 3))
        value = float(np.mean([s[self.metric.name] for s in fold_scores]))
        sign = 1.0 if self.metric.greater_is_better else -1.0
        with self._lock:
            pool = self.top_predictions.setdefault(family_name, [])
            pool.append((value, trial.number, oof[self.scored_rows]))
            pool.sort(key=lambda item: -sign * item[0])
            del pool[ENSEMBLE_POOL_PER_FAMILY:]
            if self.folds >= 2:  # the fold models themselves become the final model: keep the pooled ones
                kept = {number for entries in self.top_predictions.values() for _, number, _ in entries}
                self.fold_models[trial.number] = FoldBag(fold_models, self.schema.task, log_target)
                for number in [n for n in self.fold_models if n not in kept]:
                    del self.fold_models[number]
        return value

    def _predict(self, estimator: Any, X: Any) -> np.ndarray:
        if self.classes is None:
            return np.asarray(estimator.predict(X), dtype=np.float64).reshape(-1, 1)
        probabilities = np.asarray(estimator.predict_proba(X), dtype=np.float64)
        if list(np.asarray(estimator.classes_).astype(str)) != list(self.classes.astype(str)):
            aligned = np.zeros((len(probabilities), len(self.classes)))
            for j, label in enumerate(np.asarray(estimator.classes_).astype(str)):
                aligned[:, list(self.classes.astype(str)).index(label)] = probabilities[:, j]
            probabilities = aligned
        return probabilities

    def scores(self, predicted: np.ndarray, y_true: np.ndarray) -> dict[str, float]:
        """Every metric of the task, from predictions as ``_predict`` returns them."""
        if self.classes is None:
            return regression_metrics(y_true, predicted[:, 0])
        classes = [str(c) for c in self.classes]
        labels = np.asarray(classes, dtype=object)[np.argmax(predicted, axis=1)]
        return classification_metrics(y_true, labels, predicted, classes, self.schema.positive_class)

    def ensemble_score(self, predicted: np.ndarray) -> float:
        return self.scores(predicted, self.y_all[self.scored_rows])[self.metric.name]

    def _record_duration(self, family: str, started: float, folds_done: int) -> None:
        per_fold = (time.monotonic() - started) / max(folds_done, 1)
        self.durations.setdefault(family, []).append(per_fold * len(self.splits))


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, np.generic):
            value = value.item()
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


# --------------------------------------------------------------------------- the study
def create_study(config: TrainingConfig, metric: SelectionMetric, study_name: str | None = None) -> optuna.Study:
    """A TPE study with a percentile pruner, in memory or in the configured RDB storage."""
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    sampler = optuna.samplers.TPESampler(seed=config.split.seed, multivariate=True, group=True, n_startup_trials=8)
    # Lenient: stop a trial only when its running CV score is in the worst quarter at that fold.
    pruner = optuna.pruners.PercentilePruner(25.0, n_startup_trials=5, n_warmup_steps=1)
    storage: optuna.storages.BaseStorage | None = None
    if config.hpo.storage:
        storage = optuna.storages.RDBStorage(
            config.hpo.storage,
            heartbeat_interval=config.hpo.heartbeat_s,
            grace_period=3 * config.hpo.heartbeat_s,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
        )
    study = optuna.create_study(
        study_name=study_name or config.hpo.study_name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction="maximize" if metric.greater_is_better else "minimize",
        load_if_exists=storage is not None,
    )
    if isinstance(storage, optuna.storages.RDBStorage):
        fail_orphaned_trials(study, storage, timedelta(seconds=3 * config.hpo.heartbeat_s))
    if not study.trials:
        for candidate in config.candidates:
            study.enqueue_trial(default_trial(candidate), skip_if_exists=True)
    return study


def fail_orphaned_trials(study: optuna.Study, storage: optuna.storages.RDBStorage, grace: timedelta) -> list[int]:
    """Fail (and retry) RUNNING trials of a worker killed before it recorded a single heartbeat.

    Optuna fails a stale trial only from its last heartbeat, so a worker killed between taking a
    trial and its first heartbeat leaves that trial RUNNING for ever. Such a trial older than the
    grace period has no live worker: it is failed and handed to the storage's retry callback.
    """
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return []
    query = sqlalchemy.text("SELECT trial_id FROM trial_heartbeats WHERE trial_id IN :ids").bindparams(
        sqlalchemy.bindparam("ids", expanding=True)
    )
    with storage.engine.connect() as connection:
        beating = {row[0] for row in connection.execute(query, {"ids": [t._trial_id for t in running]})}
    now = datetime.now()  # datetime_start is written with the workers' local clock
    failed: list[int] = []
    for trial in running:
        if trial._trial_id in beating or trial.datetime_start is None or now - trial.datetime_start <= grace:
            continue
        try:
            if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first
        failed.append(trial.number)
        retry = storage.get_heartbeat_stale_trial_callback()
        if retry is not None:
            retry(study, storage.get_trial(trial._trial_id))
    if failed:
        logger.warning("Failed trial(s) %s of a worker that stopped before its first heartbeat; retrying them.", failed)
    return failed


def run_search(
    study: optuna.Study,
    features: FeatureSet,
    schema: DatasetSchema,
    config: TrainingConfig,
    callbacks: Sequence[TrialCallback] = (),
    n_trials: int | None = None,
    timeout_s: float | None = None,
) -> Objective:
    """Run trials in this process (``parallel_trials`` threads) until a budget runs out."""
    timeout = float(timeout_s if timeout_s is not None else config.hpo.timeout_s)
    objective = Objective(features, schema, config, deadline=time.monotonic() + timeout)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # BLAS / OpenMP pools follow the same share, so parallel trials x threads never exceed n_jobs.
    with threadpool_limits(limits=config.model_threads):
        _optimize(study, objective, n_trials, timeout, config, callbacks)
    return objective


def _optimize(
    study: optuna.Study,
    objective: Objective,
    n_trials: int | None,
    timeout: float,
    config: TrainingConfig,
    callbacks: Sequence[TrialCallback],
) -> None:
    study.optimize(
        objective,
        n_trials=n_trials if n_trials is not None else config.hpo.n_trials,
        timeout=timeout,
        n_jobs=config.hpo.parallel_trials,
        callbacks=[_progress(objective, timeout), *callbacks],
        catch=(ValueError, RuntimeError, MemoryError),
        gc_after_trial=False,
    )


def _progress(objective: Objective, timeout: float) -> TrialCallback:
    started = time.monotonic()

    def report(study: optuna.Study, trial: FrozenTrial) -> None:
        family = trial.user_attrs.get("family", trial.params.get("family", "?"))
        try:
            best = f"{study.best_value:.4f}"
        except ValueError:
            best = "-"
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            value = f"{trial.value:.4f}"
        elif trial.state == TrialState.PRUNED and trial.intermediate_values:
            step = max(trial.intermediate_values)
            value = f"pruned at fold {step + 1} ({trial.intermediate_values[step]:.4f})"
        else:
            value = trial.state.name.lower()
        left = max(0.0, timeout - (time.monotonic() - started))
        logger.info(
            "trial %d %s: %s %s (best %s), %.0f s of the budget left",
            trial.number,
            family,
            objective.metric.name,
            value,
            best,
            left,
        )

    return report


def summarize(study: optuna.Study, metric: SelectionMetric, evaluation: str, seconds: float) -> TuningResult:
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not complete:
        raise RuntimeError("No trial finished within the budget; raise hpo.timeout_s or lower the candidates' sizes.")
    # Only trials that ran: a default still WAITING when the budget ran out never started.
    records = [TrialRecord.from_trial(t) for t in study.trials if t.state.is_finished()]
    done = [r for r in records if r.state == "complete"]
    pick = max if metric.greater_is_better else min
    best = pick(done, key=lambda r: r.score)
    per_family: dict[str, TrialRecord] = {}
    for record in done:
        current = per_family.get(record.family)
        if current is None or pick([current, record], key=lambda r: r.score) is record:
            per_family[record.family] = record
    return TuningResult(
        study=study,
        metric=metric,
        evaluation=evaluation,
        best=best,
        best_per_family=per_family,
        trials=records,
        seconds=seconds,
    )


def tune(
    features: FeatureSet,
    schema: DatasetSchema,
    config: TrainingConfig,
    callbacks: Sequence[TrialCallback] = (),
    study_name: str | None = None,
) -> TuningResult:
    """Create (or resume) the study, search within the budget, and summarise it."""
    metric = selection_metric(schema.task, config.selection_metric)
    started = time.monotonic()
    study = create_study(config, metric, study_name)
    done_before = sum(1 for t in study.trials if t.state.is_finished())
    n_trials = max(1, config.hpo.n_trials - done_before)
    workers: list[Any] = []
    if config.hpo.storage and config.hpo.parallel_trials > 1:
        # Worker processes share the study through the database; this process is one of them.
        context = multiprocessing.get_context("spawn")
        single = replace(config, hpo=replace(config.hpo, parallel_trials=1))
        share = max(1, n_trials // config.hpo.parallel_trials)
        for _ in range(config.hpo.parallel_trials - 1):
            process = context.Process(
                target=_worker,
                args=(study.study_name, features, schema, single, tuple(callbacks), share, config.hpo.timeout_s),
                daemon=True,
            )
            process.start()
            workers.append(process)
        config = replace(config, hpo=replace(config.hpo, parallel_trials=1))
    objective = run_search(study, features, schema, config, callbacks, n_trials=n_trials)
    for process in workers:
        process.join(timeout=config.hpo.timeout_s + 120)
        if process.is_alive():
            process.terminate()
    study = create_study(config, metric, study.study_name) if workers else study
    result = summarize(study, metric, objective.evaluation, time.monotonic() - started)
    result.fold_models = dict(objective.fold_models)
    result.pool_predictions = {
        number: predictions for entries in objective.top_predictions.values() for _, number, predictions in entries
    }
    result.scored_truth = objective.y_all[objective.scored_rows]
    result.classes = [] if objective.classes is None else [str(c) for c in objective.classes]
    if config.hpo.ensemble:
        choose_ensemble(result, objective, config)
    return result


def _worker(
    study_name: str,
    features: FeatureSet,
    schema: DatasetSchema,
    config: TrainingConfig,
    callbacks: tuple[TrialCallback, ...],
    n_trials: int,
    timeout_s: float,
) -> None:
    """A worker process: join the study in the shared storage and run trials until a budget ends."""
    metric = selection_metric(schema.task, config.selection_metric)
    study = create_study(config, metric, study_name)
    run_search(study, features, schema, config, callbacks, n_trials=n_trials, timeout_s=timeout_s)


def choose_ensemble(result: TuningResult, objective: Objective, config: TrainingConfig) -> None:
    """Average several of the best trials when their out-of-fold predictions score better together.

    Members are refitted on all training rows afterwards, so the pool is limited to trials whose
    estimated refit fits in a quarter of the search budget together.
    """
    records = {r.number: r for r in result.trials if r.state == "complete"}
    folds = max(1, objective.folds)
    pool: dict[str, np.ndarray] = {}
    refit_cost: dict[str, float] = {}
    for _, number, predictions in [entry for entries in objective.top_predictions.values() for entry in entries]:
        if number in records:
            name = f"{records[number].family}-{number}"
            pool[name] = predictions
            bagged = number in objective.fold_models
            refit_cost[name] = (
                0.0 if bagged else records[number].fit_seconds / folds * config.hpo.refit_iterations_scale
            )
    if len(pool) < 2:
        return
    weights, score = greedy_selection(pool, objective.ensemble_score, result.metric.greater_is_better)
    if sum(refit_cost[name] for name in weights) > 0.25 * config.hpo.timeout_s + 5:
        logger.info("Ensemble %s skipped: its refit would take too long for the budget", weights)
        return
    single = result.best.score
    gain = score - single if result.metric.greater_is_better else (single - score) / max(abs(single), 1e-12)
    if len(weights) > 1 and gain >= config.hpo.ensemble_min_gain:
        result.ensemble, result.ensemble_score = weights, score
        logger.info(
            "Ensemble %s: %s %.4f vs. %.4f for the best single model", weights, result.metric.name, score, single
        )


def refit_params(record: TrialRecord, config: TrainingConfig) -> dict[str, Any]:
    """The best trial's parameters, with early stopping's iteration count scaled for more data."""
    family = get_family(record.family)
    params = dict(record.params)
    if family.iterations_param and record.iterations:
        params[family.iterations_param] = max(1, round(record.iterations * config.hpo.refit_iterations_scale))
        if record.family == "mlp":
            params["validation_fraction"] = 0.0
    return params
