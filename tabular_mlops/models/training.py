"""Fit each candidate on train, rank on validation, refit the winner on train + validation."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from tabular_mlops.config import TrainingConfig
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.evaluation.metrics import evaluate_estimator, selection_metric
from tabular_mlops.features.matrices import FeatureSet
from tabular_mlops.features.preprocessing import build_model_pipeline
from tabular_mlops.models.zoo import make_estimator

logger = logging.getLogger(__name__)


@dataclass
class CandidateResult:
    """How one model family did on the validation split."""

    family: str
    params: dict[str, Any]
    validation_metrics: dict[str, float]
    fit_seconds: float


@dataclass
class TrainingResult:
    """The refitted best model and the table that justified choosing it."""

    model: Pipeline
    best: CandidateResult
    selection_metric: str
    candidates: list[CandidateResult] = field(default_factory=list)
    refit_rows: int = 0

    @property
    def best_family(self) -> str:
        return self.best.family

    def selection_table(self) -> pd.DataFrame:
        rows = []
        for c in self.candidates:
            rows.append(
                {
                    "family": c.family,
                    **{f"val_{k}": round(v, 5) for k, v in c.validation_metrics.items()},
                    "fit_seconds": round(c.fit_seconds, 2),
                    "selected": c is self.best,
                    "params": str(c.params),
                }
            )
        return pd.DataFrame(rows)


def train_and_select(
    features: FeatureSet, preprocessor: Pipeline, schema: DatasetSchema, config: TrainingConfig
) -> TrainingResult:
    """Fit every configured candidate on the encoded training rows, keep the best on validation,
    refit it on train + validation and put it behind the (already fitted) preprocessor.

    The test split is not an input here: it is kept for the final evaluation.
    """
    metric = selection_metric(schema.task, config.selection_metric)
    results: list[CandidateResult] = []
    for candidate in config.candidates:
        estimator = make_estimator(candidate.family, schema.task, candidate.params, config.split.seed, config.n_jobs)
        started = time.perf_counter()
        estimator.fit(features.X_train, features.y_train)
        elapsed = time.perf_counter() - started
        scores = evaluate_estimator(
            estimator, features.X_validation, features.y_validation, schema.task, schema.positive_class
        )
        if metric.name not in scores:
            raise ValueError(
                f"Selection metric '{metric.name}' is not computed for task '{schema.task}'; "
                f"available: {sorted(scores)}."
            )
        logger.info(
            "candidate %s: validation %s = %.4f (%.1f s)", candidate.family, metric.name, scores[metric.name], elapsed
        )
        results.append(CandidateResult(candidate.family, dict(candidate.params), scores, elapsed))
    best = (max if metric.greater_is_better else min)(results, key=lambda r: r.validation_metrics[metric.name])
    final = make_estimator(best.family, schema.task, best.params, config.split.seed, config.n_jobs)
    X_full, y_full = features.train_and_validation()
    final.fit(X_full, y_full)
    model = build_model_pipeline(preprocessor, final)
    return TrainingResult(
        model=model, best=best, selection_metric=metric.name, candidates=results, refit_rows=int(X_full.shape[0])
    )
