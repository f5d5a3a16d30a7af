"""Search the candidates (Optuna, CV or validation), pick the best, refit it on train + validation.

The test split is not an input here: it is kept for the single final evaluation.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from tabular_mlops.config import EvaluationConfig, TrainingConfig
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.evaluation.threshold import ThresholdClassifier, tune_threshold
from tabular_mlops.features.matrices import FeatureSet
from tabular_mlops.features.preprocessing import build_model_pipeline
from tabular_mlops.models.ensemble import FoldBag, WeightedEnsembleClassifier, WeightedEnsembleRegressor
from tabular_mlops.models.tuning import TrialCallback, TuningResult, refit_params, tune
from tabular_mlops.models.zoo import make_estimator

logger = logging.getLogger(__name__)


@dataclass
class CandidateResult:
    """The best configuration found for one model family."""

    family: str
    params: dict[str, Any]
    validation_metrics: dict[str, float]  # mean over the CV folds (or the validation split)
    metrics_std: dict[str, float]
    fit_seconds: float
    trials: int = 1
    iterations: int | None = None


@dataclass
class TrainingResult:
    """The refitted best model, the table that justified choosing it, and the study behind it."""

    model: Pipeline
    best: CandidateResult
    selection_metric: str
    candidates: list[CandidateResult] = field(default_factory=list)
    refit_rows: int = 0
    evaluation: str = ""
    tuning: TuningResult | None = None
    refit_seconds: float = 0.0
    threshold: float | None = None  # binary: the tuned decision threshold on the positive class
    threshold_objective: str = "none"
    final_model: str = ""

    def summary(self) -> dict[str, Any]:
        """Plain facts about the training, for the model card and the CLI."""
        tuning = self.tuning
        return {
            "family": self.best_family,
            "evaluation": self.evaluation,
            "selection_metric": self.selection_metric,
            "cv_score": self.best.validation_metrics.get(self.selection_metric),
            "trials": len(tuning.trials) if tuning else 0,
            "search_seconds": round(tuning.seconds, 1) if tuning else 0.0,
            "final_model": self.final_model,
            "refit_rows": self.refit_rows,
            "threshold": self.threshold,
            "threshold_objective": self.threshold_objective,
            "params": {
                k: (v if isinstance(v, int | float | str | bool) or v is None else str(v))
                for k, v in self.best.params.items()
            },
        }

    @property
    def best_family(self) -> str:
        return self.best.family

    def selection_table(self) -> pd.DataFrame:
        rows = []
        metric = self.selection_metric
        for c in sorted(
            self.candidates,
            key=lambda c: c.validation_metrics.get(metric, float("nan")),
            reverse=metric not in {"rmse", "mae", "log_loss"},
        ):
            rows.append(
                {
                    "family": c.family,
                    "trials": c.trials,
                    f"cv_{metric}": round(c.validation_metrics.get(metric, float("nan")), 5),
                    f"cv_{metric}_std": round(c.metrics_std.get(metric, float("nan")), 5),
                    **{f"cv_{k}": round(v, 5) for k, v in c.validation_metrics.items() if k != metric},
                    "fit_seconds": round(c.fit_seconds, 2),
                    "selected": c.family == self.best.family,
                    "params": str({k: (round(v, 5) if isinstance(v, float) else v) for k, v in c.params.items()}),
                }
            )
        return pd.DataFrame(rows)


def train_and_select(
    features: FeatureSet,
    preprocessor: Pipeline,
    schema: DatasetSchema,
    config: TrainingConfig,
    callbacks: tuple[TrialCallback, ...] = (),
    study_name: str | None = None,
    evaluation: EvaluationConfig | None = None,
) -> TrainingResult:
    """Search, select on CV/validation, refit on train + validation behind the fitted preprocessor."""
    if not config.hpo.enabled:  # each family's defaults only: the enqueued first trials
        config = replace(config, hpo=replace(config.hpo, n_trials=len(config.candidates), timeout_s=1e9))
    tuning = tune(features, schema, config, callbacks=callbacks, study_name=study_name)
    counts = Counter(t.family for t in tuning.trials if t.state in ("complete", "pruned"))
    candidates = [
        CandidateResult(
            family=record.family,
            params=record.params,
            validation_metrics=record.metrics_mean,
            metrics_std=record.metrics_std,
            fit_seconds=record.fit_seconds,
            trials=counts[record.family],
            iterations=record.iterations,
        )
        for record in tuning.best_per_family.values()
    ]
    X_full, y_full = features.train_and_validation()
    started = time.monotonic()
    records = {f"{r.family}-{r.number}": r for r in tuning.trials}

    def member(name: str) -> Any:
        """A chosen trial as a final model: its bagged fold models (CV), else a refit on all rows."""
        record = records[name]
        if record.number in tuning.fold_models:
            return tuning.fold_models[record.number]
        return make_estimator(record.family, schema.task, refit_params(record, config), config.split.seed, config.cores)

    if tuning.ensemble:
        members = [(name, member(name)) for name in tuning.ensemble]
        weights = [float(tuning.ensemble[name]) for name, _ in members]
        ensemble_class = WeightedEnsembleRegressor if schema.task == "regression" else WeightedEnsembleClassifier
        estimator: Any = ensemble_class(estimators=members, weights=weights)
        best = CandidateResult(
            family="ensemble",
            params={name: int(weight) for name, weight in tuning.ensemble.items()},
            validation_metrics={tuning.metric.name: float(tuning.ensemble_score or float("nan"))},
            metrics_std={},
            fit_seconds=sum(records[name].fit_seconds for name in tuning.ensemble),
            trials=0,
        )
        candidates.append(best)
    else:
        best = next(c for c in candidates if c.family == tuning.best.family)
        name = f"{tuning.best.family}-{tuning.best.number}"
        estimator = member(name)
        if not isinstance(estimator, FoldBag):
            best = replace(best, params=refit_params(tuning.best, config))
    estimator.fit(X_full, y_full)
    refit_seconds = time.monotonic() - started
    final_model = (
        "bagged fold models"
        if isinstance(estimator, FoldBag)
        else "weighted ensemble"
        if isinstance(estimator, WeightedEnsembleClassifier | WeightedEnsembleRegressor)
        else "refit on train + validation"
    )
    threshold, objective = None, "none"
    evaluation = evaluation or EvaluationConfig()
    predictions = tuning.selected_predictions()
    truth = tuning.scored_truth
    if schema.task == "binary" and evaluation.threshold != "none" and predictions is not None and truth is not None:
        positive = schema.positive_class or tuning.classes[-1]
        threshold, _ = tune_threshold(
            truth,
            predictions[:, tuning.classes.index(positive)],
            positive,
            evaluation.threshold,
            evaluation.cost_false_positive,
            evaluation.cost_false_negative,
        )
        objective = evaluation.threshold
        estimator = ThresholdClassifier(estimator, threshold=threshold, positive_class=positive).fit()
        logger.info(
            "Decision threshold on P(%s): %.3f (tuned for %s on out-of-fold predictions)",
            positive,
            threshold,
            objective,
        )
    logger.info(
        "Selected %s (%s %s %.4f over %d trials); refitted on %d rows in %.1f s",
        best.family,
        tuning.evaluation,
        tuning.metric.name,
        best.validation_metrics.get(tuning.metric.name, float("nan")),
        len(tuning.trials),
        X_full.shape[0],
        refit_seconds,
    )
    return TrainingResult(
        model=build_model_pipeline(preprocessor, estimator),
        best=best,
        selection_metric=tuning.metric.name,
        candidates=candidates,
        refit_rows=int(X_full.shape[0]),
        evaluation=tuning.evaluation,
        tuning=tuning,
        refit_seconds=refit_seconds,
        threshold=threshold,
        threshold_objective=objective,
        final_model=final_model,
    )
