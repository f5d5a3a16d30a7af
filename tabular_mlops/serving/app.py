"""The FastAPI prediction server: /healthz, /readyz, /predict, /model-info, /metrics, /admin/reload.

Build it with ``create_app(model)`` (a loaded ``ServedModel``) or ``create_app(source=...)`` (a
``ModelSource`` that loads the production model from the MLflow registry by alias and reloads it
when the alias moves). ``python run.py serve`` does the latter; ``uvicorn`` / ``gunicorn`` can
import ``tabular_mlops.serving.asgi:app``.

The request model is generated from the model's training schema, so ``/docs`` lists every feature
with its type and known categories. Requests are checked in this order, each failure a 4xx whose
message names the culprit: API key (401), body size (413), JSON syntax (400), shape (422),
row count, field types, unknown fields, NaN/inf (422). Predictions use the compiled path
(``fast_path.py``) where it was verified for the model.
"""

from __future__ import annotations

import functools
import hmac
import logging
import operator
import os
import threading
import time
from collections import Counter as Tally
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, RootModel, Strict, TypeAdapter, ValidationError, create_model

from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.serving.model import InputError, ServedModel
from tabular_mlops.serving.records import (
    DEFAULT_MAX_ROWS,
    RecordError,
    RowLimitError,
    accepted_types,
    records_from_json,
)

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


@dataclass(frozen=True)
class ServingSettings:
    """``configs/serving.yaml``."""

    host: str = "127.0.0.1"
    port: int = 8080
    max_rows: int = DEFAULT_MAX_ROWS
    max_body_bytes: int = 16 * 1024 * 1024
    unknown_fields: Literal["reject", "ignore"] = "reject"
    reload_poll_s: float = 30.0  # 0: never poll the registry
    api_key_env: str = "TABULAR_MLOPS_API_KEY"  # when this variable is set, /predict needs X-API-Key
    admin_token_env: str = "TABULAR_MLOPS_ADMIN_TOKEN"  # when set, POST /admin/reload is enabled
    workers: int = 1

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ServingSettings:
        data = dict(data or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown serving setting(s) {unknown}; known: {sorted(known)}.")
        settings = cls(**data)
        if settings.unknown_fields not in ("reject", "ignore"):
            raise ValueError(f"unknown_fields must be 'reject' or 'ignore', not {settings.unknown_fields!r}.")
        if settings.max_rows < 1 or settings.max_body_bytes < 1024:
            raise ValueError("max_rows must be >= 1 and max_body_bytes >= 1024.")
        return settings


# ------------------------------------------------------------------------------- request models
def _feature_type(column: Any) -> Any:
    """The pydantic type of a feature: ``records.ACCEPTED`` for its role, strictly, or null."""
    finite = Field(allow_inf_nan=False)
    kinds = [
        Annotated[t, Strict(), finite] if t is float else Annotated[t, Strict()] for t in accepted_types(column.role)
    ]
    return functools.reduce(operator.or_, [*kinds, None])


def _describe(column: Any) -> str:
    missing = f" Missing in {column.missing_share:.1%} of training rows; null or absent is imputed."
    if column.role == "numeric":
        span = ""
        if column.minimum is not None and column.maximum is not None:
            span = f" Training range {column.minimum:g} to {column.maximum:g}."
        return f"Number.{span}{missing}"
    if column.role == "boolean":
        return f"Boolean (true/false, yes/no, 1/0).{missing}"
    shown = ", ".join(column.categories[:50])
    more = " ..." if len(column.categories) > 50 else ""
    return f"Category; known values: {shown}{more}. Unseen values are accepted as 'other'.{missing}"


@dataclass
class RequestModels:
    """Pydantic models of one schema: a row, the request body, and their validators."""

    row: type[BaseModel]
    body: type[BaseModel]
    rows: TypeAdapter[Any]
    columns: TypeAdapter[Any]
    feature_names: list[str]


def request_models(
    schema: DatasetSchema, unknown_fields: str = "reject", max_rows: int = DEFAULT_MAX_ROWS
) -> RequestModels:
    extra: Literal["forbid", "ignore"] = "forbid" if unknown_fields == "reject" else "ignore"
    fields: dict[str, Any] = {}
    column_fields: dict[str, Any] = {}
    for column in schema.feature_columns:
        kind = _feature_type(column)
        example: Any = column.categories[0] if column.categories else None
        if column.role == "numeric" and column.minimum is not None and column.maximum is not None:
            example = round((column.minimum + column.maximum) / 2, 3)
        fields[column.name] = (kind, Field(default=None, description=_describe(column), examples=[example]))
        column_fields[column.name] = (
            list[kind],  # type: ignore[valid-type]  # absent = all missing; null is not a column
            Field(default=None, min_length=1, max_length=max_rows, description=_describe(column)),
        )
    forbid = ConfigDict(extra="forbid")
    row: Any = create_model("Record", __config__=ConfigDict(extra=extra), **fields)
    columnar: Any = create_model(
        "Columns",
        __config__=ConfigDict(extra=extra, json_schema_extra={"minProperties": 1}),
        __doc__="Feature -> list of values; every list has the same length (one value per row).",
        **column_fields,
    )
    rows: Any = list[row]
    single: Any = create_model("SingleRecord", __config__=forbid, record=(row, ...))
    batch: Any = create_model(
        "RecordBatch", __config__=forbid, records=(rows, Field(..., min_length=1, max_length=max_rows))
    )
    by_column: Any = create_model("ColumnBatch", __config__=forbid, columns=(columnar, ...))
    body = create_model(
        "PredictRequest",
        __base__=RootModel[single | batch | by_column],
        __doc__="One row (`record`), a list of rows (`records`) or columns (`columns`).",
    )
    return RequestModels(
        row=row,
        body=body,
        rows=TypeAdapter(rows),
        columns=TypeAdapter(columnar),
        feature_names=schema.feature_names,
    )


class PredictResponse(BaseModel):
    predictions: list[str] | list[float]
    probabilities: list[dict[str, float]] | None = None
    model_name: str
    model_version: str


class ErrorResponse(BaseModel):
    detail: str
    field: str | None = None
    row: int | None = None


class RequestRejected(Exception):  # noqa: N818 - an HTTP answer, not a failure of ours
    def __init__(self, status: int, kind: str, detail: str, field: str | None = None, row: int | None = None) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail, self.field, self.row = status, kind, detail, field, row


# ---------------------------------------------------------------------------------- metrics
class ServerMetrics:
    """Prometheus metrics of one app instance, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "tabular_http_requests", "HTTP requests by endpoint and status.", ["endpoint", "status"], registry=r
        )
        self.latency = Histogram(
            "tabular_request_latency_seconds",
            "Request latency by endpoint.",
            ["endpoint"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.errors = Counter(
            "tabular_request_errors",
            "Rejected or failed requests by endpoint and kind.",
            ["endpoint", "kind"],
            registry=r,
        )
        self.rows = Counter("tabular_predicted_rows", "Rows predicted.", registry=r)
        self.classes = Counter("tabular_predicted_class", "Predicted classes.", ["class"], registry=r)
        self.values = Histogram(
            "tabular_prediction_value",
            "Regression predictions.",
            buckets=(-1e6, -1e3, -100, -10, -1, 0, 1, 10, 100, 1e3, 1e4, 1e5, 1e6),
            registry=r,
        )
        self.missing = Counter(
            "tabular_feature_missing", "Missing (null or absent) values by feature.", ["feature"], registry=r
        )
        self.model_info = Gauge(
            "tabular_model_info", "The model being served (value 1).", ["name", "version", "stage"], registry=r
        )
        self.ready = Gauge("tabular_model_ready", "1 when a model is loaded and answering.", registry=r)
        self.reloads = Counter("tabular_model_reloads", "Model (re)loads by result.", ["result"], registry=r)
        self._children: dict[tuple[int, str], Any] = {}

    def serving(self, model: ServedModel) -> None:
        self.model_info.clear()
        self.model_info.labels(name=model.name, version=model.version, stage=model.stage or "").set(1)
        self.ready.set(1)

    def observe_prediction(self, model: ServedModel, records: list[dict[str, Any]], result: dict[str, Any]) -> None:
        self.rows.inc(len(records))
        for name in model.schema.feature_names:
            missing = sum(1 for r in records if r.get(name) is None)
            if missing:
                self._child(self.missing, name).inc(missing)
        predictions = result["predictions"]
        if result["probabilities"] is None:
            for value in predictions:
                self.values.observe(value)
        else:
            for label, count in Tally(predictions).items():
                self._child(self.classes, str(label)).inc(count)

    def _child(self, metric: Counter, label: str) -> Any:
        """The labelled child of a one-label counter, cached (``labels()`` costs more than ``inc()``)."""
        key = (id(metric), label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(label)
        return child


class PrometheusMiddleware:
    """Pure ASGI middleware: count and time every request (cheaper than FastAPI's http middleware)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http" or scope["path"] == "/metrics":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            endpoint = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
            self.metrics.requests.labels(endpoint=endpoint, status=str(status["code"])).inc()
            self.metrics.latency.labels(endpoint=endpoint).observe(time.perf_counter() - started)


KNOWN_PATHS = frozenset({"/predict", "/healthz", "/readyz", "/model-info", "/admin/reload", "/docs", "/openapi.json"})


# ------------------------------------------------------------------------------- model holder
@dataclass
class ModelSource:
    """Where the served model comes from: a registered model's alias (reloaded when it moves)."""

    name: str
    alias: str = "champion"
    stage: str = "production"

    def current_version(self) -> str:
        from mlflow.tracking import MlflowClient

        return str(MlflowClient().get_model_version_by_alias(self.name, self.alias).version)

    def load(self, version: str) -> ServedModel:
        model = ServedModel.from_mlflow(f"models:/{self.name}/{version}", name=self.name, version=version)
        model.stage = self.stage
        return model.compile()


@dataclass
class ModelHolder:
    """The model in service; swapped atomically, so a request in flight finishes on the model it started with."""

    model: ServedModel
    models: RequestModels
    settings: ServingSettings
    metrics: ServerMetrics
    source: ModelSource | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_check: str = ""

    def reload(self) -> dict[str, Any]:
        """Load the source's current version if it differs from the one serving."""
        if self.source is None:
            return {
                "reloaded": False,
                "version": self.model.version,
                "reason": "the server was started on a fixed model",
            }
        with self.lock:
            try:
                version = self.source.current_version()
                if version == self.model.version:
                    return {"reloaded": False, "version": version, "reason": f"alias '{self.source.alias}' unchanged"}
                model = self.source.load(version)
                model.predict_records([model.example_record()])  # answers before it takes traffic
            except Exception as exc:  # noqa: BLE001 - keep serving the current model, count and report the failure
                self.metrics.reloads.labels(result="failed").inc()
                logger.warning("Reload of %s failed, still serving v%s: %s", self.source.name, self.model.version, exc)
                return {"reloaded": False, "version": self.model.version, "reason": f"reload failed: {exc}"}
            models = request_models(model.schema, self.settings.unknown_fields, self.settings.max_rows)
            previous = self.model.version
            self.model, self.models = model, models  # the swap
            self.metrics.reloads.labels(result="loaded").inc()
            self.metrics.serving(model)
            logger.info("Now serving %s v%s (was v%s)", model.name, model.version, previous)
            return {"reloaded": True, "version": model.version, "previous_version": previous}

    def poll_forever(self, stop: threading.Event) -> None:
        while not stop.wait(self.settings.reload_poll_s):
            self.reload()


# --------------------------------------------------------------------------------------- app
def create_app(
    model: ServedModel | None = None,
    settings: ServingSettings | None = None,
    source: ModelSource | None = None,
    max_rows: int | None = None,
) -> FastAPI:
    """The app around a loaded model (``model``), or the current version of ``source``."""
    settings = settings or ServingSettings()
    if max_rows is not None:
        settings = ServingSettings(**{**settings.__dict__, "max_rows": max_rows})
    if model is None:
        if source is None:
            raise ValueError("create_app needs a model or a model source")
        model = source.load(source.current_version())
    elif model.compiled is None and model.fast_path_note == "not compiled":
        model.compile()
    metrics = ServerMetrics()
    holder = ModelHolder(
        model, request_models(model.schema, settings.unknown_fields, settings.max_rows), settings, metrics, source
    )
    metrics.serving(model)
    metrics.reloads.labels(result="loaded").inc()
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if source is not None and settings.reload_poll_s > 0:
            threading.Thread(target=holder.poll_forever, args=(stop,), name="model-reload", daemon=True).start()
        yield
        stop.set()

    app = FastAPI(
        lifespan=lifespan,
        title=f"{model.name} prediction service",
        version=model.version,
        description=f"Predicts '{model.schema.target}' ({model.schema.task}) from {len(model.schema.feature_names)} "
        "features. Send one record, a list of records, or columns.",
    )
    app.state.holder = holder
    app.state.settings = settings
    app.state.metrics = metrics

    def reply(status: int, content: Any) -> Response:
        return Response(orjson.dumps(content), status_code=status, media_type="application/json")

    def rejected(endpoint: str, error: RequestRejected) -> Response:
        metrics.errors.labels(endpoint=endpoint, kind=error.kind).inc()
        return reply(error.status, {"detail": error.detail, "field": error.field, "row": error.row})

    @app.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="A model is loaded and answering", responses={503: {"model": ErrorResponse}})
    async def readyz() -> Response:
        current = holder.model
        try:
            current.predict_records([current.example_record()])
        except Exception as exc:  # noqa: BLE001 - not ready is an answer, not a crash
            metrics.ready.set(0)
            return reply(503, {"detail": f"model {current.name} v{current.version} does not answer: {exc}"})
        metrics.ready.set(1)
        return reply(200, {"status": "ready", "model_name": current.name, "model_version": current.version})

    @app.get("/model-info", summary="Name, version, stage, metrics, schema of the model in service")
    async def model_info() -> dict[str, Any]:
        return holder.model.info() | {"schema": holder.model.schema.to_dict()}

    @app.post(
        "/predict",
        summary="Predict one record or a batch",
        response_model=PredictResponse,
        responses={
            400: {"model": ErrorResponse, "description": "Not JSON"},
            401: {"model": ErrorResponse, "description": "API key missing or wrong"},
            413: {"model": ErrorResponse, "description": "Body larger than max_body_bytes"},
            422: {
                "model": ErrorResponse,
                "description": "A field does not match the schema, or more rows than max_rows",
            },
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}},
            }
        },
    )
    async def predict(request: Request) -> Response:
        current, models = holder.model, holder.models  # one consistent pair for the whole request
        try:
            _check_api_key(request, settings)
            records = _parse(await _body(request, settings), models, settings)
        except RequestRejected as error:
            return rejected("/predict", error)
        try:
            result = current.predict_records(records)
        except InputError as exc:
            return rejected("/predict", RequestRejected(422, "validation", str(exc), exc.field, exc.row))
        except Exception as exc:
            metrics.errors.labels(endpoint="/predict", kind="internal").inc()
            logger.exception("Prediction failed")
            return reply(500, {"detail": f"prediction failed: {type(exc).__name__}: {exc}"})
        metrics.observe_prediction(current, records, result)
        return reply(200, {**result, "model_name": current.name, "model_version": current.version})

    @app.post("/admin/reload", summary="Load the current version of the model's alias now", include_in_schema=False)
    def admin_reload(request: Request) -> Response:
        token = os.environ.get(settings.admin_token_env)
        if not token:
            return reply(404, {"detail": f"admin endpoint disabled; set {settings.admin_token_env} to enable it"})
        given = request.headers.get("x-admin-token", "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            metrics.errors.labels(endpoint="/admin/reload", kind="unauthorized").inc()
            return reply(401, {"detail": "X-Admin-Token missing or wrong"})
        return reply(200, holder.reload())

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            body = holder.models.body.model_json_schema(ref_template="#/components/schemas/{model}")
            components = document.setdefault("components", {}).setdefault("schemas", {})
            components.update(body.pop("$defs", {}))
            components["PredictRequest"] = body
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(PrometheusMiddleware, metrics=metrics)
    return app


def _check_api_key(request: Request, settings: ServingSettings) -> None:
    key = os.environ.get(settings.api_key_env)
    if not key:
        return
    given = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(given.encode(), key.encode()):
        raise RequestRejected(401, "unauthorized", "X-API-Key header missing or wrong")


async def _body(request: Request, settings: ServingSettings) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_body_bytes:
        raise RequestRejected(413, "too_large", f"Body of {declared} bytes; the limit is {settings.max_body_bytes}.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > settings.max_body_bytes:
            raise RequestRejected(413, "too_large", f"Body over the limit of {settings.max_body_bytes} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(raw: bytes, models: RequestModels, settings: ServingSettings) -> list[dict[str, Any]]:
    """Validated records (the JSON objects as sent) from a request body."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestRejected(
            400, "validation", f"Body is not valid JSON (NaN and Infinity are not JSON): {exc}"
        ) from exc
    try:
        records = records_from_json(body, settings.max_rows, allow_list=False)
    except RecordError as exc:
        kind = "too_large" if isinstance(exc, RowLimitError) else "validation"
        raise RequestRejected(422, kind, str(exc), field=exc.field) from exc
    try:
        models.rows.validate_python(records)
    except ValidationError as exc:
        raise _rejection(exc) from exc
    return records


def _rejection(exc: ValidationError) -> RequestRejected:
    error = exc.errors(include_url=False)[0]
    location = [str(part) for part in error["loc"]]
    row = int(location[0]) if location and location[0].isdigit() else None
    name = (
        next((part for part in location[1:] if not part.isdigit() and "[" not in part), None)
        if row is not None
        else None
    )
    if error["type"] == "extra_forbidden":
        message = f"Unknown field '{name}' in record {row}: the model has no such feature (see /docs)."
    elif error["type"] in ("model_type", "dict_type"):
        message = f"Record {row} must be a JSON object of feature -> value."
    else:
        message = f"Field '{name}' in record {row}: {error['msg']} (got {error.get('input')!r})."
    return RequestRejected(422, "validation", message, field=name, row=row)
