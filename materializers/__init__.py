"""ZenML materializers for the project's own types (imported so that ZenML registers them)."""

from materializers.feature_set_materializer import FeatureSetMaterializer
from materializers.schema_materializer import DatasetSchemaMaterializer
from materializers.validation_report_materializer import ValidationReportMaterializer

__all__ = ["DatasetSchemaMaterializer", "FeatureSetMaterializer", "ValidationReportMaterializer"]
