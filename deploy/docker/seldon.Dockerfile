# syntax=docker/dockerfile:1
# The Seldon Core v1 model image: `seldon-core-microservice TabularSeldonModel --service-type MODEL`, REST on 9000,
# Prometheus metrics on 6000, serving a model bundle (tabular_mlops/serving/bundle.py) from /mnt/models (the
# SeldonDeployment's init container copies it there: deploy/k8s/base/serving/seldondeployment.yaml).
#
# Build from the repository root:
#   docker build -f deploy/docker/seldon.Dockerfile -t <registry>/tabular-mlops-seldon:<tag> .
# Try it (a bundle exported with tabular_mlops.serving.bundle.export_bundle in ./bundle):
#   docker run --rm -p 127.0.0.1:9000:9000 --read-only --tmpfs /tmp -v "$PWD/bundle:/mnt/models:ro" <image>
#   curl -s -X POST 127.0.0.1:9000/api/v1.0/predictions -H 'Content-Type: application/json' \
#     -d '{"jsonData": [{"age": 39, "workclass": "State-gov", ...}]}'
#
# seldon-core 1.19 needs Python >= 3.12 and numpy < 2, so this image has its own environment:
# deploy/docker/seldon-requirements.txt (the same file `make seldon-venv` installs). The project's package is
# not pip-installed (pyproject.toml says Python 3.11): its source is on PYTHONPATH, as the model class expects.
# No torch: the MLP family is refused with a clear message (see seldon-requirements.txt).
#
# Base image: python:3.12.12-slim-bookworm pinned by tag and by the digest of its multi-architecture index.

# ---------------------------------------------------------------------------------------- builder
FROM python:3.12.12-slim-bookworm@sha256:593bd06efe90efa80dc4eee3948be7c0fde4134606dd40d8dd8dbcade98e669c AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

COPY deploy/docker/seldon-requirements.txt /tmp/seldon-requirements.txt
# xgboost-cpu: the same module without NVIDIA's NCCL (470 MB, only used for multi-GPU training).
RUN pip install --no-cache-dir --requirement /tmp/seldon-requirements.txt

# ---------------------------------------------------------------------------------------- runtime
FROM python:3.12.12-slim-bookworm@sha256:593bd06efe90efa80dc4eee3948be7c0fde4134606dd40d8dd8dbcade98e669c AS runtime

LABEL org.opencontainers.image.title="tabular-mlops-seldon" \
      org.opencontainers.image.description="tabular-mlops model bundle served by seldon-core-microservice (Seldon Core v1)" \
      org.opencontainers.image.licenses="Apache-2.0 (seldon-core: BSL-1.1)"

# LightGBM's wheel links the system's OpenMP runtime (libgomp.so.1), which the slim image lacks.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libgomp1=12.2.0-14+deb12u1 \
    && rm -rf /var/lib/apt/lists/*

# Seldon Core's conventional non-root UID/GID 8888, the one the SeldonDeployment pod runs as.
RUN groupadd --system --gid 8888 seldon \
    && useradd --system --uid 8888 --gid seldon --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin seldon \
    && mkdir -p /mnt/models

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY tabular_mlops/ tabular_mlops/
COPY deploy/seldon/TabularSeldonModel.py ./

# gunicorn's worker heartbeats and the Prometheus multiprocess files go to /tmp (an emptyDir in Kubernetes).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    MODEL_DIR=/mnt/models

USER 8888:8888
EXPOSE 9000 6000

# /health/ping: the microservice answers (readiness, /health/status, also needs the model).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9000/health/ping', timeout=4)"]

CMD ["seldon-core-microservice", "TabularSeldonModel", "--service-type", "MODEL", "--http-port", "9000", "--metrics-port", "6000"]
