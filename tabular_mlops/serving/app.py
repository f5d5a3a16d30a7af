"""The FastAPI app: /healthz, /predict, /model-info and /metrics (Prometheus)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pydantic import BaseModel, Field

from tabular_mlops.serving.model import InputError, ServedModel

DEFAULT_MAX_ROWS = 10_000


class PredictRequest(BaseModel):
    """A batch of input rows, one JSON object per row, keyed by feature name."""

    records: list[dict[str, Any]] = Field(..., min_length=1)


class PredictResponse(BaseModel):
    predictions: list[Any]
    probabilities: list[dict[str, float]] | None = None
    model_name: str
    model_version: str


class ServerMetrics:
    """Prometheus metrics of one app instance, in their own registry."""

    def __init__(self, model: ServedModel) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests by endpoint and status code.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "request_latency_seconds",
            "Request latency by endpoint.",
            ["endpoint"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.rows = Counter("predicted_rows", "Rows predicted.", registry=self.registry)
        self.model_info = Gauge(
            "model_info", "The model being served (value is always 1).", ["name", "version"], registry=self.registry
        )
        self.model_info.labels(name=model.name, version=model.version).set(1)


def create_app(model: ServedModel, max_rows: int = DEFAULT_MAX_ROWS) -> FastAPI:
    """Build the app around an already loaded model."""
    app = FastAPI(
        title=f"{model.name} prediction service",
        version=model.version,
        description=(
            f"Predicts '{model.schema.target}' ({model.schema.task}) from {len(model.schema.columns)} features."
        ),
    )
    metrics = ServerMetrics(model)
    app.state.model = model
    app.state.metrics = metrics

    @app.middleware("http")
    async def observe(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        endpoint = request.url.path
        if endpoint != "/metrics":
            metrics.requests.labels(endpoint=endpoint, status=str(response.status_code)).inc()
            metrics.latency.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        return response

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/model-info")
    def model_info() -> dict[str, Any]:
        return model.info()

    @app.post("/predict", response_model=PredictResponse)
    def predict(body: PredictRequest) -> Any:
        if len(body.records) > max_rows:
            return JSONResponse(
                status_code=413,
                content={"detail": f"{len(body.records)} records sent; the limit is {max_rows} per request."},
            )
        try:
            frame = model.records_to_frame(body.records)
        except InputError as exc:
            return JSONResponse(status_code=422, content={"detail": str(exc), "field": exc.field, "row": exc.row})
        result = model.predict_frame(frame)
        metrics.rows.inc(len(frame))
        return PredictResponse(**result, model_name=model.name, model_version=model.version)

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
