"""The project's Seldon Core v1 model: ``seldon-core-microservice TabularSeldonModel --service-type MODEL``.

It serves a model bundle (``tabular_mlops.serving.bundle``: ``model.joblib`` + ``bundle.json``,
exported from the registered MLflow model) with the FastAPI server's checks
(``tabular_mlops.serving.records``) and prediction path,
in seldon-core's own environment (Python 3.12, numpy 1.x; ``deploy/docker/seldon-requirements.txt``)
with the project's source on ``PYTHONPATH`` and neither ZenML nor MLflow installed.

Where the model is: the ``model_uri`` parameter (Seldon passes the directory its storage initializer
downloaded ``modelUri`` into, ``/mnt/models``), else the ``MODEL_DIR`` environment variable, else
``/mnt/models``. Other parameters (``--parameters`` / ``PREDICTIVE_UNIT_PARAMETERS``):
``max_rows`` (INT, 10000), ``unknown_fields`` (STRING, reject | ignore), ``require_all_columns``
(BOOL, true: every feature must be sent, null marking a missing value; false: an absent feature is
missing, exactly as the FastAPI server treats it).

Requests (``POST /api/v1.0/predictions``):

* ``{"data": {"names": [...features], "ndarray": [[...], ...]}}`` (without ``names``: the features
  in training order) -> ``{"data": {"names": [...classes], "ndarray": [[p, ...], ...]}}`` with the
  class probabilities, or ``names: [target]`` and one prediction per row for regression; the
  decided labels (decision threshold applied) are in ``meta.tags.predictions``;
* ``{"jsonData": [{feature: value}, ...]}`` (or the FastAPI bodies ``{"records": [...]}``,
  ``{"record": {...}}``, ``{"columns": {...}}``) -> ``{"jsonData": {"predictions": [...],
  "probabilities": [{class: p}, ...], "model_name": ..., "model_version": ...}}``, the FastAPI
  server's answer.

A payload that does not fit the training schema gets HTTP 400 with Seldon's ``status`` object, its
``info`` naming the field and row. ``predict_raw`` reads the JSON as sent: Seldon's default decoding
(``numpy.array`` of the ``ndarray``) would turn a row mixing numbers and strings into strings and
fail on rows of different widths. gRPC requests take the default decoding into ``predict``.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from typing import Any

import numpy as np
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.user_model import SeldonNotImplementedError, SeldonResponse
from seldon_core.utils import construct_response_json

from tabular_mlops.serving.bundle import BundleError, load_bundle, read_bundle_info
from tabular_mlops.serving.model import ServedModel
from tabular_mlops.serving.records import (
    DEFAULT_MAX_ROWS,
    RecordError,
    check_records,
    records_from_json,
    records_from_rows,
)

logger = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = "/mnt/models"


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class TabularSeldonModel:
    """A Seldon Core v1 Python model component around a project model bundle."""

    def __init__(
        self,
        model_uri: str = "",
        max_rows: int = DEFAULT_MAX_ROWS,
        unknown_fields: str = "reject",
        require_all_columns: bool = True,
    ) -> None:
        self.model_dir = model_uri or os.environ.get("MODEL_DIR") or DEFAULT_MODEL_DIR
        self.max_rows = int(max_rows)
        if unknown_fields not in ("reject", "ignore"):
            raise ValueError(f"unknown_fields must be 'reject' or 'ignore', not {unknown_fields!r}")
        self.unknown_fields = unknown_fields
        self.require_all_columns = _as_bool(require_all_columns)
        self.model: ServedModel | None = None

    # ------------------------------------------------------------------------------ lifecycle
    def load(self) -> None:
        """Load the bundle (seldon-core calls this in each worker before it takes requests)."""
        if self.model is not None:
            return
        started = time.perf_counter()
        try:
            self.model = load_bundle(self.model_dir)
        except BundleError as exc:
            logger.error("Cannot serve: %s", exc)
            raise
        logger.info(
            "Serving %s version %s (%s, %s) from %s, loaded in %.2f s",
            self.model.name,
            self.model.version,
            self.model.schema.task,
            self.model.fast_path_note,
            self.model_dir,
            time.perf_counter() - started,
        )

    def _loaded(self) -> ServedModel:
        if self.model is None:
            try:
                self.load()
            except BundleError as exc:
                raise SeldonMicroserviceException(
                    str(exc), status_code=503, reason="MICROSERVICE_MODEL_NOT_LOADED"
                ) from exc
        assert self.model is not None
        return self.model

    # -------------------------------------------------------------------------------- predict
    def predict_raw(self, request: Any) -> Any:
        """REST requests, read as the JSON that was sent (gRPC protos fall through to ``predict``)."""
        if not isinstance(request, dict):
            raise SeldonNotImplementedError("gRPC: decoded by seldon-core, then predict()")
        model = self._loaded()
        if "jsonData" in request:
            records = self._checked(lambda: records_from_json(request["jsonData"], self.max_rows))
            result, metrics = self._predict(model, records)
            payload: Any = {**result, "model_name": model.name, "model_version": model.version}
            tags: dict[str, Any] = {}
        elif "data" in request:
            data = request["data"]
            if not isinstance(data, dict) or "ndarray" not in data:
                raise SeldonMicroserviceException(
                    "'data' must hold 'ndarray' (and 'names'): "
                    '{"data": {"names": ["age", ...], "ndarray": [[39, ...]]}}; tensors cannot carry categories.',
                    status_code=400,
                )
            records = self._checked(lambda: records_from_rows(data["ndarray"], data.get("names"), model.schema))
            result, metrics = self._predict(model, records)
            payload, tags = self._table(model, result)
        else:
            present = sorted(k for k in request if k != "meta")
            raise SeldonMicroserviceException(
                f"Send 'data' (names + ndarray) or 'jsonData' (records); got {present}. "
                "strData and binData are not supported.",
                status_code=400,
            )
        response: dict[str, Any] = construct_response_json(
            self, False, request, payload, request.get("meta"), metrics, tags
        )
        return response

    def predict(self, X: Any, features_names: Any = None, **kwargs: Any) -> SeldonResponse:
        """Seldon's typed entry point: ``X`` a 2-D array (or list of rows) under ``features_names``, or
        JSON records (``jsonData``). Returns class probabilities (classification) or predictions."""
        model = self._loaded()
        names = list(features_names) if features_names is not None and len(features_names) else None
        if isinstance(X, dict) or (isinstance(X, list) and X and all(isinstance(r, dict) for r in X)):
            records = self._checked(lambda: records_from_json(X, self.max_rows))
        else:
            as_text = isinstance(X, np.ndarray) and X.dtype.kind in ("U", "S")
            rows = X.tolist() if isinstance(X, np.ndarray) else X
            records = self._checked(lambda: records_from_rows(rows, names, model.schema, numbers_as_text=as_text))
        result, metrics = self._predict(model, records)
        table, tags = self._table(model, result)
        return SeldonResponse(table, tags=tags, metrics=metrics)

    def _checked(self, parse: Any) -> list[dict[str, Any]]:
        try:
            records = parse()
            return check_records(
                records,
                self._loaded().schema,
                unknown_fields=self.unknown_fields,
                require_all_columns=self.require_all_columns,
                max_rows=self.max_rows,
            )
        except RecordError as exc:
            raise SeldonMicroserviceException(str(exc), status_code=400, reason="MICROSERVICE_BAD_DATA") from exc

    def _predict(self, model: ServedModel, records: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict]]:
        started = time.perf_counter()
        result = model.predict_records(records)
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics: list[dict[str, Any]] = [
            {"type": "COUNTER", "key": "tabular_predicted_rows", "value": len(records)},
            {"type": "TIMER", "key": "tabular_predict_time", "value": elapsed_ms},
        ]
        if result["probabilities"] is not None:
            metrics.extend(
                {"type": "COUNTER", "key": "tabular_predicted_class", "value": count, "tags": {"class": label}}
                for label, count in sorted(Counter(result["predictions"]).items())
            )
        return result, metrics

    def _table(self, model: ServedModel, result: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        """The Seldon ``ndarray`` answer (probabilities, or one prediction per row) and its tags."""
        if result["probabilities"] is None:
            return np.asarray(result["predictions"], dtype=float).reshape(-1, 1), {}
        classes = model.classes
        table = np.asarray([[row[c] for c in classes] for row in result["probabilities"]], dtype=float)
        return table, {"predictions": result["predictions"]}

    # ---------------------------------------------------------------------- Seldon's extras
    def class_names(self) -> list[str]:
        model = self._loaded()
        return model.classes or [model.schema.target]

    def tags(self) -> dict[str, Any]:
        model = self._loaded()
        return {"model_name": model.name, "model_version": model.version}

    def health_status(self) -> dict[str, Any]:
        """``/health/status`` (the readiness probe): the model answers a prediction."""
        model = self._loaded()
        try:
            model.predict_records([model.example_record()])
        except Exception as exc:  # not ready is an answer, not a crash
            raise SeldonMicroserviceException(
                f"model {model.name} v{model.version} does not answer: {exc}", status_code=503, reason="NOT_READY"
            ) from exc
        return {"status": "ready", "model_name": model.name, "model_version": model.version}

    def init_metadata(self) -> dict[str, Any]:
        """``/api/v1.0/metadata``, from bundle.json (called before ``load``)."""
        try:
            info = read_bundle_info(self.model_dir)
        except BundleError as exc:
            logger.error("No metadata: %s", exc)
            return {}
        names = list(info.get("feature_names", []))
        outputs = list(info.get("classes") or [info.get("target", "prediction")])
        return {
            "name": str(info.get("name", "")),
            "versions": [str(info.get("version", ""))],
            "platform": "tabular-mlops",
            "inputs": [
                {"messagetype": "ndarray", "schema": {"names": names}},
                {"messagetype": "jsonData", "schema": {"type": "array", "items": {"type": "object"}}},
            ],
            "outputs": [{"messagetype": "ndarray", "schema": {"names": [str(o) for o in outputs]}}],
            "custom": {
                "task": str(info.get("task", "")),
                "target": str(info.get("target", "")),
                "schema_fingerprint": str(info.get("schema_fingerprint", "")),
                "family": str(info.get("metadata", {}).get("family", "")),
            },
        }
