"""A registered model loaded for serving, with input checks against its training schema."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.errors import TabularMLOpsError
from tabular_mlops.serving.fast_path import CompiledPipeline, NotCompilable, compile_pipeline

logger = logging.getLogger(__name__)


class InputError(TabularMLOpsError):
    """A request does not match the training schema; ``field`` names the culprit."""

    def __init__(self, message: str, field: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.row = row


@dataclass
class ServedModel:
    """The fitted pipeline plus what a server needs to describe and check it."""

    pipeline: Pipeline
    schema: DatasetSchema
    name: str
    version: str
    model_uri: str
    metadata: dict[str, Any] = field(default_factory=dict)
    stage: str = ""
    compiled: CompiledPipeline | None = None
    fast_path_note: str = "not compiled"

    def compile(self) -> ServedModel:
        """Build and verify the compiled prediction path; keep the scikit-learn path if it cannot be exact."""
        try:
            self.compiled = compile_pipeline(self.pipeline, self.schema)
            self.fast_path_note = "compiled and verified"
        except NotCompilable as exc:
            self.compiled = None
            self.fast_path_note = f"scikit-learn pipeline ({exc})"
            logger.warning("Prediction fast path off for %s v%s: %s", self.name, self.version, exc)
        return self

    def predict_records(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Predictions (and class probabilities) for already validated JSON records."""
        if self.compiled is None:
            return self.predict_frame(self.records_to_frame(records))
        predictions, probabilities = self.compiled.predict_records(records)
        return self._result(predictions, probabilities)

    @classmethod
    def from_mlflow(cls, model_uri: str, name: str | None = None, version: str | None = None) -> ServedModel:
        """Load ``models:/NAME/VERSION`` (or any MLflow model URI) with its stored schema."""
        import mlflow  # here, not at the top: a model bundle (serving/bundle.py) loads without MLflow

        info = mlflow.models.get_model_info(model_uri)
        metadata = dict(info.metadata or {})
        if "schema" not in metadata:
            raise TabularMLOpsError(
                f"Model '{model_uri}' carries no training schema in its metadata; it was not "
                "logged by this project. Retrain it with `python run.py train`."
            )
        pipeline = mlflow.sklearn.load_model(model_uri)
        if name is None or version is None:
            parts = model_uri.split("/")
            if model_uri.startswith("models:/") and len(parts) >= 3:
                name = name or parts[1]
                version = version or parts[2]
        return cls(
            pipeline=pipeline,
            schema=DatasetSchema.from_dict(metadata["schema"]),
            name=name or metadata.get("registered_model_name", "model"),
            version=str(version or "unknown"),
            model_uri=model_uri,
            metadata=metadata,
        )

    @property
    def classes(self) -> list[str]:
        if self.schema.task == "regression":
            return []
        return [str(c) for c in self.pipeline.classes_]

    def records_to_frame(self, records: list[dict[str, Any]]) -> pd.DataFrame:
        """Check JSON records against the schema and build a typed DataFrame.

        Numeric fields take numbers (or null); categorical fields take strings, numbers or
        booleans (or null). A field left out is a missing value and is imputed as in training.
        """
        columns: dict[str, list[Any]] = {name: [] for name in self.schema.feature_names}
        numeric = set(self.schema.numeric_features)
        for row_index, record in enumerate(records):
            if not isinstance(record, dict):
                raise InputError(f"Record {row_index} is not a JSON object.", row=row_index)
            for name, values in columns.items():
                value = record.get(name)
                if name in numeric:
                    values.append(_number(value, name, row_index))
                else:
                    values.append(_category(value, name, row_index))
        frame = pd.DataFrame(columns)
        for name in numeric:
            frame[name] = frame[name].astype("float64")
        return frame

    def predict_frame(self, frame: pd.DataFrame) -> dict[str, Any]:
        """Predictions (and class probabilities for classifiers) for a typed frame."""
        predictions = self.pipeline.predict(frame)
        probabilities = None if self.schema.task == "regression" else self.pipeline.predict_proba(frame)
        return self._result(predictions, probabilities)

    def _result(self, predictions: Any, probabilities: Any) -> dict[str, Any]:
        if probabilities is None:
            return {"predictions": [float(p) for p in predictions], "probabilities": None}
        classes = self.classes
        return {
            "predictions": [str(p) for p in predictions],
            "probabilities": [dict(zip(classes, row.tolist(), strict=True)) for row in np.asarray(probabilities)],
        }

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "stage": self.stage,
            "model_uri": self.model_uri,
            "prediction_path": self.fast_path_note,
            "task": self.schema.task,
            "target": self.schema.target,
            "classes": self.classes,
            "positive_class": self.schema.positive_class,
            "metrics": self.metadata.get("test_metrics", {}),
            "trained_at": self.metadata.get("trained_at"),
            "decision_threshold": self.metadata.get("decision_threshold"),
            "family": self.metadata.get("family"),
            "schema_fingerprint": self.schema.fingerprint(),
            "features": [
                {
                    "name": c.name,
                    "role": c.role,
                    **({"categories": list(c.categories)} if c.role in ("categorical", "boolean") else {}),
                }
                for c in self.schema.feature_columns
            ],
        }

    def example_record(self) -> dict[str, Any]:
        """A plausible input row (median-ish numbers, first categories) for docs and curl."""
        record: dict[str, Any] = {}
        for column in self.schema.feature_columns:
            if column.role == "numeric":
                low, high = column.minimum, column.maximum
                record[column.name] = round((low + high) / 2, 3) if low is not None and high is not None else 0.0
            else:
                record[column.name] = column.categories[0] if column.categories else None
        return record


def _number(value: Any, name: str, row: int) -> float:
    if value is None:
        return np.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(
            f"Field '{name}' (record {row}) must be a number or null, got {type(value).__name__} {value!r}.",
            field=name,
            row=row,
        )
    number = float(value)
    if math.isinf(number) or math.isnan(number):
        raise InputError(f"Field '{name}' (record {row}) must be a finite number.", field=name, row=row)
    return number


def _category(value: Any, name: str, row: int) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # the same rule as training: 1.0 -> "1"
    if isinstance(value, str | int | float):
        return str(value)
    raise InputError(
        f"Field '{name}' (record {row}) must be a string, number, boolean or null, got {type(value).__name__}.",
        field=name,
        row=row,
    )
