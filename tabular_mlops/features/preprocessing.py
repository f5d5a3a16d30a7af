"""Build the ColumnTransformer that sits in front of every model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tabular_mlops.data.schema import DatasetSchema

# Categories seen in fewer training rows than this are grouped into one "infrequent" column.
MIN_CATEGORY_FREQUENCY = 10
MAX_CATEGORIES = 50


def build_preprocessor(schema: DatasetSchema) -> ColumnTransformer:
    """Numeric: median imputation + scaling. Categorical: constant imputation + one-hot.

    Unknown categories at prediction time fall into the infrequent column (or all zeros), never an
    error; the transformer outputs a dense float matrix with readable feature names.
    """
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=False)),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
            (
                "encode",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=MIN_CATEGORY_FREQUENCY,
                    max_categories=MAX_CATEGORIES,
                    sparse_output=False,
                ),
            ),
        ]
    )
    transformers = []
    if schema.numeric_features:
        transformers.append(("numeric", numeric, schema.numeric_features))
    if schema.categorical_features:
        transformers.append(("categorical", categorical, schema.categorical_features))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)


class SchemaEnforcer(TransformerMixin, BaseEstimator):
    """First step of every model: put raw input into the training schema's shape.

    Columns are reordered to the training order, absent columns are added as missing values,
    numeric columns are coerced to float64 (unparseable values become missing) and categorical
    values become strings. The same model therefore behaves identically behind MLflow's scoring
    server, Seldon and the project's FastAPI server, whatever JSON types a client sends.
    """

    def __init__(
        self,
        numeric_features: Sequence[str] = (),
        categorical_features: Sequence[str] = (),
    ) -> None:
        self.numeric_features = numeric_features
        self.categorical_features = categorical_features

    def fit(self, X: pd.DataFrame, y: object = None) -> SchemaEnforcer:
        columns = list(self.numeric_features) + list(self.categorical_features)
        self.feature_names_out_ = np.asarray(columns, dtype=object)
        self.n_features_in_ = len(columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=self.feature_names_out_)
        out: dict[str, pd.Series] = {}
        for name in self.numeric_features:
            if name in frame.columns:
                out[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
            else:
                out[name] = pd.Series(np.nan, index=frame.index, dtype="float64")
        for name in self.categorical_features:
            if name in frame.columns:
                out[name] = as_category_strings(frame[name])
            else:
                out[name] = pd.Series(np.nan, index=frame.index, dtype=object)
        return pd.DataFrame(out, index=frame.index)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(self.feature_names_out_, dtype=object)


def as_category_strings(column: pd.Series) -> pd.Series:
    """Categorical values as strings; integral numbers print without '.0' (1.0 -> '1')."""
    if pd.api.types.is_float_dtype(column):
        text = column.map(lambda v: str(int(v)) if float(v).is_integer() else str(v), na_action="ignore")
    elif column.dtype == object or pd.api.types.is_string_dtype(column):
        text = column.map(
            lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v), na_action="ignore"
        )
    else:
        text = column.map(str, na_action="ignore")
    return text.astype(object).where(column.notna(), None)


def build_model_pipeline(schema: DatasetSchema, estimator: BaseEstimator) -> Pipeline:
    """The whole model as one scikit-learn Pipeline: schema -> features -> estimator."""
    return Pipeline(
        [
            (
                "schema",
                SchemaEnforcer(
                    numeric_features=tuple(schema.numeric_features),
                    categorical_features=tuple(schema.categorical_features),
                ),
            ),
            ("preprocess", build_preprocessor(schema)),
            ("model", estimator),
        ]
    )
