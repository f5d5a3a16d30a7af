# syntax=docker/dockerfile:1
# The training image: the whole project with `python run.py` as its entry point (train, models, promote,
# predict, monitor, ...). The Kubernetes training Job (deploy/k8s/base/training/job.yaml) runs
# `python run.py train ...` in it, and the MLflow tracking server of deploy/k8s runs from it too
# (`mlflow server`: the same mlflow 3.17.2 the pipelines log with, plus psycopg2 for a PostgreSQL backend).
#
# Build from the repository root (the build context is the project; .dockerignore keeps it small):
#   docker build -f deploy/docker/training.Dockerfile -t <registry>/tabular-mlops-training:<tag> .
#
# Base image: python:3.11.14-slim-bookworm pinned by tag (readable, what `requires-python` wants) AND by the
# digest of its multi-architecture index (immutable: a rebuilt tag cannot change this image). Refresh both
# together with `docker buildx imagetools inspect python:3.11.14-slim-bookworm`.

# ---------------------------------------------------------------------------------------- builder
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# PyPI's torch for Linux x86_64 is the CUDA build (about 3 GB of NVIDIA libraries). Install the CPU wheel of
# the version pyproject.toml pins from the PyTorch CPU index first; `pip install .` below then finds
# `torch==2.13.0` satisfied (2.13.0+cpu) and keeps it.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY tabular_mlops/ tabular_mlops/
COPY pipelines/ pipelines/
COPY steps/ steps/
COPY materializers/ materializers/
COPY stacks/ stacks/
# The project with every pin of pyproject.toml; `kubernetes` is ZenML's Kubernetes/Seldon client,
# `production-local` brings psycopg2 + PyMySQL (the MLflow server's PostgreSQL backend). XGBoost's wheel
# depends on NVIDIA's NCCL (470 MB), which it loads only for multi-GPU training: removed from this CPU image.
# DL3013 (pin versions in pip) does not apply: "." is this project, whose dependencies are pinned in
# pyproject.toml (tests/unit/test_manifests.py checks the Dockerfiles' pins against it).
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[kubernetes,production-local]" \
    && pip uninstall --yes nvidia-nccl-cu12

# ---------------------------------------------------------------------------------------- runtime
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS runtime

LABEL org.opencontainers.image.title="tabular-mlops-training" \
      org.opencontainers.image.description="tabular-mlops: python run.py (ZenML pipelines, MLflow) and the MLflow server" \
      org.opencontainers.image.licenses="Apache-2.0"

# LightGBM's wheel links the system's OpenMP runtime (libgomp.so.1), which the slim image lacks.
# Pinned to Debian bookworm's version (the base image is pinned to bookworm by digest).
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libgomp1=12.2.0-14+deb12u1 \
    && rm -rf /var/lib/apt/lists/*

# A fixed non-root UID/GID (10001), the one the Kubernetes manifests name in runAsUser / runAsGroup / fsGroup.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app \
    && mkdir -p /var/lib/zenml /data \
    && chown app:app /var/lib/zenml /data

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# run.py finds configs/ and data/ next to itself; the code is installed in the virtualenv (read-only, root-owned).
COPY run.py ./
COPY configs/ configs/
COPY data/ data/

# Writable state lives outside the (read-only) root filesystem: ZenML's config, SQLite store and local
# artifact store under /var/lib/zenml (a volume in Kubernetes), caches under /tmp.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    ZENML_CONFIG_PATH=/var/lib/zenml/config \
    ZENML_REPOSITORY_PATH=/var/lib/zenml/repo \
    ZENML_ANALYTICS_OPT_IN=false \
    ZENML_ENABLE_RICH_TRACEBACK=false \
    AUTO_OPEN_DASHBOARD=false \
    MPLCONFIGDIR=/tmp/matplotlib \
    NUMBA_CACHE_DIR=/tmp/numba

USER 10001:10001

# A batch image has no port to probe: the check is that the environment still imports the project.
# (The MLflow server Deployment that reuses this image has its own HTTP probes on /health.)
HEALTHCHECK --interval=60s --timeout=20s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import tabular_mlops"]

ENTRYPOINT ["python", "run.py"]
CMD ["--help"]
