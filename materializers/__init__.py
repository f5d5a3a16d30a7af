"""ZenML materializers for the project's own types (imported so that ZenML registers them)."""

from materializers.schema_materializer import DatasetSchemaMaterializer

__all__ = ["DatasetSchemaMaterializer"]
