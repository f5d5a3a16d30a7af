"""Feature engineering: one scikit-learn pipeline from raw columns to model inputs.

    schema enforcement -> ColumnTransformer -> feature selection

* numeric: median imputation (optional missing indicators) and standard scaling;
* categorical with few values, and booleans: constant imputation and one-hot encoding, rare
  categories grouped as 'infrequent', unseen ones mapped to it (or to all zeros);
* categorical with many values: target encoding (cross-fitted on the training rows, so a model
  never sees encodings computed from its own labels) and scaling;
* datetime: expanded into year, month, day, day of week and hour, then imputed and scaled;
* selection: a variance threshold, optionally mutual information or a model's importances.

It is fitted on training rows only; at prediction time absent columns become missing values and
unseen categories fall into 'infrequent', so a request never crashes the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
from sklearn.feature_selection import (
    SelectFromModel,
    SelectKBest,
    VarianceThreshold,
    mutual_info_classif,
    mutual_info_regression,
)
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder
from sklearn.utils.validation import check_is_fitted

from tabular_mlops.config import FeatureConfig
from tabular_mlops.data.schema import DatasetSchema, canonical_booleans

MISSING_CATEGORY = "__missing__"
DATETIME_PARTS = ("year", "month", "day", "dayofweek", "hour", "dayofyear")


class SchemaEnforcer(TransformerMixin, BaseEstimator):
    """First step of every model: put raw input into the training schema's shape and types.

    Columns are reordered to the training order; absent columns are added as missing values;
    numeric columns are coerced to float64 (unparseable values become missing); categorical
    values become strings (1.0 -> '1'); booleans become 'true'/'false'; dates become datetime64.
    The same model therefore behaves identically behind MLflow's scoring server, Seldon and the
    project's FastAPI server, whatever JSON types a client sends.
    """

    def __init__(
        self,
        numeric_features: Sequence[str] = (),
        categorical_features: Sequence[str] = (),
        boolean_features: Sequence[str] = (),
        datetime_features: Sequence[str] = (),
    ) -> None:
        self.numeric_features = numeric_features
        self.categorical_features = categorical_features
        self.boolean_features = boolean_features
        self.datetime_features = datetime_features

    def _columns(self) -> list[str]:
        return [
            *self.numeric_features,
            *self.categorical_features,
            *self.boolean_features,
            *self.datetime_features,
        ]

    def fit(self, X: pd.DataFrame, y: object = None) -> SchemaEnforcer:
        self.feature_names_out_ = np.asarray(self._columns(), dtype=object)
        self.n_features_in_ = len(self.feature_names_out_)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "feature_names_out_")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=self.feature_names_out_)
        out: dict[str, pd.Series] = {}
        for name in self.numeric_features:
            if name in frame.columns:
                numbers = pd.to_numeric(frame[name], errors="coerce").astype("float64")
                out[name] = numbers.where(np.isfinite(numbers), np.nan)
            else:
                out[name] = pd.Series(np.nan, index=frame.index, dtype="float64")
        for name in self.categorical_features:
            out[name] = as_category_strings(frame[name]) if name in frame.columns else _missing(frame.index)
        for name in self.boolean_features:
            out[name] = canonical_booleans(frame[name]) if name in frame.columns else _missing(frame.index)
        for name in self.datetime_features:
            if name in frame.columns:
                out[name] = pd.to_datetime(frame[name], errors="coerce", format="mixed")
            else:
                out[name] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
        return pd.DataFrame(out, index=frame.index)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)


class DatetimeExpander(TransformerMixin, BaseEstimator):
    """Turn datetime columns into numeric parts (year, month, day, day of week, hour, day of year)."""

    def __init__(self, parts: Sequence[str] = ("year", "month", "day", "dayofweek", "hour")) -> None:
        self.parts = parts

    def fit(self, X: pd.DataFrame, y: object = None) -> DatetimeExpander:
        unknown = [p for p in self.parts if p not in DATETIME_PARTS]
        if unknown:
            raise ValueError(f"Unknown datetime part(s) {unknown}; choose from {list(DATETIME_PARTS)}.")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=self.feature_names_in_)
        blocks = []
        for name in self.feature_names_in_:
            values = pd.to_datetime(frame[name], errors="coerce", format="mixed")
            for part in self.parts:
                blocks.append(getattr(values.dt, part).astype("float64").to_numpy())
        return np.column_stack(blocks) if blocks else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        return np.asarray([f"{name}_{part}" for name in self.feature_names_in_ for part in self.parts], dtype=object)


def as_category_strings(column: pd.Series) -> pd.Series:
    """Categorical values as strings; integral numbers print without '.0' (1.0 -> '1')."""

    def to_text(value: Any) -> str:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return column.map(to_text, na_action="ignore").astype(object).where(column.notna(), None)


def _missing(index: pd.Index) -> pd.Series:
    return pd.Series(None, index=index, dtype=object)


@dataclass(frozen=True)
class ColumnGroups:
    """Which encoding each feature column gets."""

    numeric: list[str]
    onehot: list[str]
    target_encoded: list[str]
    boolean: list[str]
    datetime: list[str]


def column_groups(schema: DatasetSchema, config: FeatureConfig) -> ColumnGroups:
    onehot: list[str] = []
    target_encoded: list[str] = []
    for column in schema.feature_columns:
        if column.role == "categorical":
            (onehot if column.n_unique <= config.max_onehot_categories else target_encoded).append(column.name)
    return ColumnGroups(
        numeric=schema.numeric_features,
        onehot=onehot,
        target_encoded=target_encoded,
        boolean=[c.name for c in schema.feature_columns if c.role == "boolean"],
        datetime=schema.datetime_features,
    )


def build_preprocessor(schema: DatasetSchema, config: FeatureConfig | None = None, seed: int = 42) -> Pipeline:
    """The unfitted preprocessing pipeline for ``schema`` (fit it on training rows only)."""
    config = config or FeatureConfig()
    groups = column_groups(schema, config)
    scaler = [("scale", StandardScaler(with_mean=True))] if config.scale_numeric else []
    transformers: list[tuple[str, Any, list[str]]] = []
    if groups.numeric:
        numeric = Pipeline(
            [("impute", SimpleImputer(strategy="median", add_indicator=config.missing_indicators)), *scaler]
        )
        transformers.append(("numeric", numeric, groups.numeric))
    if groups.onehot:
        transformers.append(("onehot", _onehot(config, drop_binary=False), groups.onehot))
    if groups.boolean:
        transformers.append(("boolean", _onehot(config, drop_binary=True), groups.boolean))
    if groups.target_encoded:
        target_encoded = Pipeline(
            [
                ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
                ("encode", TargetEncoder(target_type="auto", cv=_folds(schema.task, seed))),
                *scaler,
            ]
        )
        transformers.append(("target_encoded", target_encoded, groups.target_encoded))
    if groups.datetime:
        dates = Pipeline(
            [
                ("expand", DatetimeExpander(parts=tuple(config.datetime_parts))),
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                *scaler,
            ]
        )
        transformers.append(("datetime", dates, groups.datetime))
    columns = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.3, verbose_feature_names_out=True)
    steps: list[tuple[str, Any]] = [
        (
            "schema",
            SchemaEnforcer(
                numeric_features=tuple(groups.numeric),
                categorical_features=tuple(groups.onehot + groups.target_encoded),
                boolean_features=tuple(groups.boolean),
                datetime_features=tuple(groups.datetime),
            ),
        ),
        ("columns", columns),
        ("variance", VarianceThreshold(threshold=config.selection.variance_threshold)),
    ]
    selector = _selector(schema.task, config, seed)
    if selector is not None:
        steps.append(("select", selector))
    return Pipeline(steps)


def _folds(task: str, seed: int) -> KFold | StratifiedKFold:
    """Cross-fitting folds of the target encoder (stratified for classification)."""
    if task == "regression":
        return KFold(n_splits=5, shuffle=True, random_state=seed)
    return StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)


def _onehot(config: FeatureConfig, drop_binary: bool) -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
            (
                "encode",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=config.min_category_frequency,
                    max_categories=config.max_onehot_categories + 1,
                    drop="if_binary" if drop_binary else None,
                    sparse_output=True,
                    dtype=np.float64,
                ),
            ),
        ]
    )


def _selector(task: str, config: FeatureConfig, seed: int) -> Any:
    selection = config.selection
    if selection.method == "none" or not selection.max_features:
        return None
    if selection.method == "mutual_info":
        score = mutual_info_regression if task == "regression" else mutual_info_classif
        return SelectKBest(score_func=partial(score, random_state=seed), k=selection.max_features)
    model = (
        ExtraTreesRegressor(n_estimators=100, max_depth=12, random_state=seed, n_jobs=1)
        if task == "regression"
        else ExtraTreesClassifier(n_estimators=100, max_depth=12, random_state=seed, n_jobs=1)
    )
    return SelectFromModel(model, max_features=selection.max_features, threshold=-np.inf)


def feature_names(preprocessor: Pipeline) -> list[str]:
    """Names of the model inputs after encoding and selection (e.g. 'onehot__workclass_Private')."""
    return [str(n) for n in preprocessor.get_feature_names_out()]


def build_model_pipeline(preprocessor: Pipeline, estimator: BaseEstimator) -> Pipeline:
    """The whole model as one scikit-learn Pipeline: preprocessing -> estimator."""
    return Pipeline([("preprocess", preprocessor), ("model", estimator)])


def to_dense(matrix: Any) -> np.ndarray:
    """A dense float array from the preprocessor's output (sparse when one-hot dominates)."""
    return np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix, dtype=np.float64)
