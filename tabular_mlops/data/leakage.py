"""Leakage detection: how well each column alone predicts the target, and rows shared across splits.

A single column is turned into one number per row (numbers as they are, categories as codes, dates
as timestamps, missing as a sentinel below the minimum) and a small decision tree predicts the
target from it, out of fold. A tree with enough leaves maps every category code to its own class
rate, so the same test catches a numeric copy of the target, a monotone or non-monotone
transform of it, and a category that encodes it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from tabular_mlops.data.schema import DatasetSchema

MAX_LEAVES = 64
FOLDS = 3


def single_feature_scores(
    frame: pd.DataFrame, schema: DatasetSchema, columns: list[str], sample_rows: int = 5000, seed: int = 0
) -> tuple[dict[str, float], str]:
    """Out-of-fold score of a one-column tree per column: ROC AUC (one-vs-rest for multiclass) or R²."""
    if len(frame) > sample_rows:
        if schema.task == "regression":
            frame = frame.sample(n=sample_rows, random_state=seed)
        else:
            frame = frame.groupby(schema.target, group_keys=False).sample(
                frac=sample_rows / len(frame), random_state=seed
            )
    y = frame[schema.target]
    metric = "R2" if schema.task == "regression" else "ROC AUC"
    if schema.task == "regression":
        splitter: KFold | StratifiedKFold = KFold(FOLDS, shuffle=True, random_state=seed)
    else:
        if y.value_counts().min() < FOLDS:
            return {}, metric
        splitter = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    scores: dict[str, float] = {}
    for name in columns:
        x = _as_number(frame[name]).reshape(-1, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if schema.task == "regression":
                tree = DecisionTreeRegressor(max_leaf_nodes=MAX_LEAVES, min_samples_leaf=5, random_state=seed)
                predicted = cross_val_predict(tree, x, y.to_numpy(dtype=float), cv=splitter)
                scores[name] = float(r2_score(y, predicted))
            else:
                classifier = DecisionTreeClassifier(max_leaf_nodes=MAX_LEAVES, min_samples_leaf=5, random_state=seed)
                proba = cross_val_predict(classifier, x, y.astype(str), cv=splitter, method="predict_proba")
                labels = np.sort(y.astype(str).unique())
                if len(labels) == 2:
                    score = roc_auc_score(y.astype(str) == labels[1], proba[:, 1])
                else:
                    score = roc_auc_score(y.astype(str), proba, multi_class="ovr", labels=labels)
                scores[name] = float(max(score, 1.0 - score) if len(labels) == 2 else score)
    return scores, metric


def _as_number(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series.astype("int64").astype(float).where(series.notna(), np.nan).to_numpy()
    elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=float)
    else:
        codes, _ = pd.factorize(series.astype(object).where(series.notna(), None), sort=True)
        values = np.where(codes < 0, np.nan, codes).astype(float)
    finite = values[np.isfinite(values)]
    sentinel = (finite.min() - 1.0) if len(finite) else 0.0
    return np.where(np.isfinite(values), values, sentinel)


def shared_rows(train: pd.DataFrame, test: pd.DataFrame, columns: list[str]) -> int:
    """How many test rows are identical (on ``columns``) to some training row."""
    if not len(test) or not len(train):
        return 0
    train_hashes = set(pd.util.hash_pandas_object(train[columns], index=False).to_numpy().tolist())
    test_hashes = pd.util.hash_pandas_object(test[columns], index=False).to_numpy()
    return int(sum(1 for h in test_hashes if h in train_hashes))
