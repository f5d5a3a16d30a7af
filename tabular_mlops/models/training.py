"""Fit each candidate on train, rank on validation, refit the winner on train + validation."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from tabular_mlops.config import TrainingConfig
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.data.splitting import DataSplits
from tabular_mlops.evaluation.metrics import evaluate_estimator, selection_metric
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


def features_and_target(frame: pd.DataFrame, schema: DatasetSchema) -> tuple[pd.DataFrame, pd.Series]:
    return frame[schema.feature_names], frame[schema.target]


def train_and_select(splits: DataSplits, schema: DatasetSchema, config: TrainingConfig) -> TrainingResult:
    """Fit every configured candidate, keep the best on validation, refit it on train+validation.

    The test split is not touched here: it is kept for the final evaluation.
    """
    metric = selection_metric(schema.task, config.selection_metric)
    X_train, y_train = features_and_target(splits.train, schema)
    X_val, y_val = features_and_target(splits.validation, schema)
    results: list[CandidateResult] = []
    for candidate in config.candidates:
        estimator = make_estimator(candidate.family, schema.task, candidate.params, config.split.seed, config.n_jobs)
        pipeline = build_model_pipeline(schema, estimator)
        started = time.perf_counter()
        pipeline.fit(X_train, y_train)
        elapsed = time.perf_counter() - started
        scores = evaluate_estimator(pipeline, X_val, y_val, schema.task, schema.positive_class)
        if metric.name not in scores:
            raise ValueError(
                f"Selection metric '{metric.name}' is not computed for task '{schema.task}'; "
                f"available: {sorted(scores)}."
            )
        logger.info(
            "candidate %s: validation %s = %.4f (%.1f s)",
            candidate.family,
            metric.name,
            scores[metric.name],
            elapsed,
        )
        results.append(CandidateResult(candidate.family, dict(candidate.params), scores, elapsed))
    best = (max if metric.greater_is_better else min)(results, key=lambda r: r.validation_metrics[metric.name])
    final = build_model_pipeline(
        schema,
        make_estimator(best.family, schema.task, best.params, config.split.seed, config.n_jobs),
    )
    X_full = pd.concat([X_train, X_val], ignore_index=True)
    y_full = pd.concat([y_train, y_val], ignore_index=True)
    final.fit(X_full, y_full)
    return TrainingResult(model=final, best=best, selection_metric=metric.name, candidates=results)


def candidate_summary(result: TrainingResult) -> list[dict[str, Any]]:
    return [asdict(c) for c in result.candidates]
