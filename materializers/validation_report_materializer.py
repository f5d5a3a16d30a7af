"""Store a :class:`ValidationReport` as JSON; show it as an HTML page in the dashboard."""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

from tabular_mlops.data.validation import ValidationReport
from tabular_mlops.reports import validation_html

REPORT_FILE = "validation_report.json"
VISUALIZATION_FILE = "validation_report.html"


class ValidationReportMaterializer(BaseMaterializer):
    """JSON on disk; the rendered report as the dashboard visualization; its numbers as metadata."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (ValidationReport,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA_ANALYSIS

    def load(self, data_type: type[Any]) -> ValidationReport:
        with self.artifact_store.open(os.path.join(self.uri, REPORT_FILE), "r") as handle:
            return ValidationReport.from_dict(json.load(handle))

    def save(self, data: ValidationReport) -> None:
        with self.artifact_store.open(os.path.join(self.uri, REPORT_FILE), "w") as handle:
            json.dump(data.to_dict(), handle, indent=1, default=str)

    def save_visualizations(self, data: ValidationReport) -> dict[str, VisualizationType]:
        path = os.path.join(self.uri, VISUALIZATION_FILE)
        with self.artifact_store.open(path, "w") as handle:
            handle.write(validation_html(data))
        return {path.replace("\\", "/"): VisualizationType.HTML}

    def extract_metadata(self, data: ValidationReport) -> dict[str, MetadataType]:
        metadata: dict[str, MetadataType] = {f"data_{k}": v for k, v in data.metrics().items()}
        metadata["passed"] = data.passed
        return metadata
