"""The schema materializer against a real (temporary) local artifact store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tabular_mlops.data.schema import DatasetSchema, infer_schema


def test_schema_roundtrip_visualization_and_metadata(adult_sample: pd.DataFrame) -> None:
    import uuid

    from zenml.client import Client
    from zenml.enums import VisualizationType

    from materializers.schema_materializer import DatasetSchemaMaterializer

    schema = infer_schema(adult_sample, "income", positive_class=">50K")
    uri = Path(Client().active_stack.artifact_store.path) / f"schema-test-{uuid.uuid4().hex}"
    uri.mkdir(parents=True)
    materializer = DatasetSchemaMaterializer(uri=str(uri))
    materializer.save(schema)
    assert materializer.load(DatasetSchema) == schema
    visualizations = materializer.save_visualizations(schema)
    [(path, kind)] = visualizations.items()
    assert kind == VisualizationType.MARKDOWN
    text = Path(path).read_text()
    assert "| workclass | categorical |" in text and "income" in text
    metadata = materializer.extract_metadata(schema)
    assert metadata["task"] == "binary" and metadata["n_features"] == 14
