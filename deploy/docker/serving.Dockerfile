# syntax=docker/dockerfile:1
# The prediction server image: the project's FastAPI server (`uvicorn tabular_mlops.serving.asgi:app`) on port
# 8080, loading the registered model's production version (alias `champion`) from the MLflow registry and
# reloading it when the alias moves. The Kubernetes serving Deployment (deploy/k8s/base/serving/) runs it.
#
# Build from the repository root:
#   docker build -f deploy/docker/serving.Dockerfile -t <registry>/tabular-mlops-serving:<tag> .
#   docker build -f deploy/docker/serving.Dockerfile --build-arg WITH_TORCH=true -t <...>-serving:<tag>-torch .
#
# Run (the server needs its registry and the model name; see tabular_mlops/serving/asgi.py):
#   docker run --rm -p 127.0.0.1:8080:8080 --read-only --tmpfs /tmp \
#     -e MLFLOW_TRACKING_URI=http://<mlflow>:5000 -e TABULAR_MLOPS_MODEL=adult-income <image>
#
# What is installed: only what serving imports and what unpickling a model needs (scikit-learn, LightGBM,
# XGBoost, mlflow-skinny: MLflow's client without its server and UI), with the pins of pyproject.toml; not
# ZenML, Evidently, SHAP, Optuna or matplotlib. PyTorch is needed only when the served model is the MLP
# family (or an ensemble holding it): it is left out by default (the virtualenv measures about 0.85 GB
# without it, 1.7 GB with the CPU wheel). A server without torch refuses an MLP model at start
# ("No module named 'torch'") and keeps serving its current model when the alias moves to one (a failed
# reload, alert TabularModelReloadFailed). Build with `--build-arg WITH_TORCH=true` when MLP models may be
# promoted, or train without that family (`python run.py train --families lightgbm,xgboost,...`).
#
# Base image: python:3.11.14-slim-bookworm pinned by tag and by the digest of its multi-architecture index.

# ---------------------------------------------------------------------------------------- builder
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# The serving subset of pyproject.toml's dependencies, same specifiers (checked by tests/unit/test_manifests.py);
# mlflow-skinny is pinned to pyproject's mlflow version. XGBoost's NCCL dependency (multi-GPU only) is removed.
RUN pip install --no-cache-dir \
        "mlflow-skinny==3.17.2" \
        "scikit-learn==1.9.1" \
        "numpy>=2,<3" \
        "pandas>=2.2,<3" \
        "lightgbm>=4.5,<5" \
        "xgboost>=2.1,<3" \
        "fastapi>=0.115" \
        "uvicorn>=0.30" \
        "prometheus-client>=0.20" \
        "orjson>=3.10" \
        "pyyaml>=6" \
    && pip uninstall --yes nvidia-nccl-cu12

# PyTorch only on request: the CPU wheel from the PyTorch CPU index (PyPI's is the multi-GB CUDA build).
ARG WITH_TORCH=false
RUN if [ "$WITH_TORCH" = "true" ]; then \
        pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"; \
    fi

# The project's package itself, without its (training) dependencies: only tabular_mlops is copied, so only it is
# installed (pyproject's package list also names pipelines, steps, ...: absent here, skipped).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tabular_mlops/ tabular_mlops/
# DL3013 (pin versions in pip) does not apply: "." is this project, installed without its dependencies.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --no-deps .

# ---------------------------------------------------------------------------------------- runtime
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS runtime

LABEL org.opencontainers.image.title="tabular-mlops-serving" \
      org.opencontainers.image.description="tabular-mlops prediction server (FastAPI, /predict /healthz /readyz /metrics)" \
      org.opencontainers.image.licenses="Apache-2.0"

# LightGBM's wheel links the system's OpenMP runtime (libgomp.so.1), which the slim image lacks.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libgomp1=12.2.0-14+deb12u1 \
    && rm -rf /var/lib/apt/lists/*

# A fixed non-root UID/GID (10001), the one the Kubernetes manifests name.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY configs/serving.yaml configs/serving.yaml

# The model is downloaded to a temporary directory at start: /tmp is the only path written (an emptyDir in
# Kubernetes, --tmpfs /tmp with docker run --read-only).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TABULAR_MLOPS_SERVING_CONFIG=/app/configs/serving.yaml

USER 10001:10001
EXPOSE 8080

# /healthz answers once the app has loaded its model; --start-period covers the model download.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

# One worker per container: scale with replicas (the HPA), not processes.
CMD ["uvicorn", "tabular_mlops.serving.asgi:app", "--host", "0.0.0.0", "--port", "8080", "--no-server-header"]
