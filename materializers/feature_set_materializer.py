"""Store a :class:`FeatureSet` (dense or sparse matrices) as .npy / .npz files, not as a pickle."""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from zenml.enums import ArtifactType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

from tabular_mlops.features.matrices import FeatureSet

_MATRICES = ("X_train", "X_validation")
_TARGETS = ("y_train", "y_validation")


class FeatureSetMaterializer(BaseMaterializer):
    """One file per matrix: ``X_*.npz`` (CSR) or ``X_*.npy`` (dense), ``y_*.npy``, ``feature_names.json``."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (FeatureSet,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def _path(self, name: str) -> str:
        return os.path.join(self.uri, name)

    def load(self, data_type: type[Any]) -> FeatureSet:
        values: dict[str, Any] = {}
        for key in _MATRICES:
            if self.artifact_store.exists(self._path(f"{key}.npz")):
                with self.artifact_store.open(self._path(f"{key}.npz"), "rb") as handle:
                    values[key] = sp.load_npz(handle).tocsr()
            else:
                with self.artifact_store.open(self._path(f"{key}.npy"), "rb") as handle:
                    values[key] = np.load(handle, allow_pickle=False)
        for key in _TARGETS:
            with self.artifact_store.open(self._path(f"{key}.npy"), "rb") as handle:
                values[key] = np.load(handle, allow_pickle=False)
        with self.artifact_store.open(self._path("feature_names.json"), "r") as handle:
            values["feature_names"] = json.load(handle)
        return FeatureSet(**values)

    def save(self, data: FeatureSet) -> None:
        for key in _MATRICES:
            matrix = getattr(data, key)
            if sp.issparse(matrix):
                with self.artifact_store.open(self._path(f"{key}.npz"), "wb") as handle:
                    sp.save_npz(handle, sp.csr_matrix(matrix), compressed=False)
            else:
                with self.artifact_store.open(self._path(f"{key}.npy"), "wb") as handle:
                    np.save(handle, np.asarray(matrix), allow_pickle=False)
        for key in _TARGETS:
            with self.artifact_store.open(self._path(f"{key}.npy"), "wb") as handle:
                np.save(handle, np.asarray(getattr(data, key)), allow_pickle=False)
        with self.artifact_store.open(self._path("feature_names.json"), "w") as handle:
            json.dump(list(data.feature_names), handle)

    def extract_metadata(self, data: FeatureSet) -> dict[str, MetadataType]:
        return {
            "n_features": data.n_features,
            "train_rows": int(data.X_train.shape[0]),
            "validation_rows": int(data.X_validation.shape[0]),
            "sparse": bool(sp.issparse(data.X_train)),
        }
