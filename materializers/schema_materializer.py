"""Store a :class:`DatasetSchema` as JSON and show it as a Markdown table in the dashboard."""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.reports import schema_markdown

SCHEMA_FILE = "schema.json"
VISUALIZATION_FILE = "schema.md"


class DatasetSchemaMaterializer(BaseMaterializer):
    """JSON on disk (readable without Python), a Markdown table for people."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (DatasetSchema,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def load(self, data_type: type[Any]) -> DatasetSchema:
        with self.artifact_store.open(os.path.join(self.uri, SCHEMA_FILE), "r") as handle:
            return DatasetSchema.from_dict(json.load(handle))

    def save(self, data: DatasetSchema) -> None:
        with self.artifact_store.open(os.path.join(self.uri, SCHEMA_FILE), "w") as handle:
            json.dump(data.to_dict(), handle, indent=2)

    def save_visualizations(self, data: DatasetSchema) -> dict[str, VisualizationType]:
        path = os.path.join(self.uri, VISUALIZATION_FILE)
        with self.artifact_store.open(path, "w") as handle:
            handle.write(schema_markdown(data))
        return {path.replace("\\", "/"): VisualizationType.MARKDOWN}

    def extract_metadata(self, data: DatasetSchema) -> dict[str, MetadataType]:
        return {
            "task": data.task,
            "target": data.target,
            "n_features": len(data.columns),
            "n_rows": data.n_rows,
            "schema_fingerprint": data.fingerprint(),
        }
