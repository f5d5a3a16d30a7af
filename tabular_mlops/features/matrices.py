"""The encoded training and validation matrices, computed once by the feature step.

Training rows are encoded with ``fit_transform`` (so target encodings of training rows are
cross-fitted) and validation rows with ``transform``; every candidate model, every trial and the
final refit then reuse these matrices instead of re-encoding the raw frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.pipeline import Pipeline

from tabular_mlops.data.schema import DatasetSchema


@dataclass
class FeatureSet:
    """Encoded inputs (dense array or CSR matrix) and targets of the train and validation splits."""

    X_train: Any
    y_train: np.ndarray
    X_validation: Any
    y_validation: np.ndarray
    feature_names: list[str]

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    def train_and_validation(self) -> tuple[Any, np.ndarray]:
        """Both splits stacked, for the final refit."""
        if sp.issparse(self.X_train):
            X = sp.vstack([self.X_train, self.X_validation], format="csr")
        else:
            X = np.vstack([self.X_train, self.X_validation])
        return X, np.concatenate([self.y_train, self.y_validation])


def fit_feature_set(
    preprocessor: Pipeline, train: pd.DataFrame, validation: pd.DataFrame, schema: DatasetSchema
) -> FeatureSet:
    """Fit ``preprocessor`` on the training rows and encode both splits."""
    y_train = _labels(train[schema.target], schema)
    y_validation = _labels(validation[schema.target], schema)
    X_train = _compact(preprocessor.fit_transform(train, y_train))
    X_validation = _compact(preprocessor.transform(validation))
    names = [str(n) for n in preprocessor.get_feature_names_out()]
    return FeatureSet(X_train, y_train, X_validation, y_validation, names)


def _labels(series: pd.Series, schema: DatasetSchema) -> np.ndarray:
    if schema.task == "regression":
        return series.to_numpy(dtype=np.float64)
    return series.astype(str).to_numpy(dtype=str)


def _compact(matrix: Any) -> Any:
    if sp.issparse(matrix):
        return sp.csr_matrix(matrix, dtype=np.float64)
    return np.ascontiguousarray(matrix, dtype=np.float64)
