"""The server as an importable ASGI app, for uvicorn or gunicorn with uvicorn workers:

    TABULAR_MLOPS_MODEL=adult-income uvicorn tabular_mlops.serving.asgi:app --host 127.0.0.1 --port 8080
    TABULAR_MLOPS_MODEL=adult-income gunicorn -k uvicorn.workers.UvicornWorker -w 2 tabular_mlops.serving.asgi:app

Environment: ``TABULAR_MLOPS_MODEL`` (registered model name; required), ``TABULAR_MLOPS_ALIAS``
(default ``champion``, the production version), ``MLFLOW_TRACKING_URI`` (the registry; required —
``export MLFLOW_TRACKING_URI="$(python run.py tracking-uri)"`` for the active ZenML stack's),
``TABULAR_MLOPS_SERVING_CONFIG`` (default ``configs/serving.yaml``).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from tabular_mlops.serving.app import ModelSource, ServingSettings, create_app


def _settings() -> ServingSettings:
    path = Path(os.environ.get("TABULAR_MLOPS_SERVING_CONFIG", "configs/serving.yaml"))
    return ServingSettings.from_dict(yaml.safe_load(path.read_text()) if path.is_file() else {})


name = os.environ.get("TABULAR_MLOPS_MODEL")
if not name:
    raise RuntimeError("Set TABULAR_MLOPS_MODEL to the registered model name to serve (e.g. adult-income).")
if not os.environ.get("MLFLOW_TRACKING_URI"):
    raise RuntimeError('Set MLFLOW_TRACKING_URI, e.g. export MLFLOW_TRACKING_URI="$(python run.py tracking-uri)".')
app = create_app(
    settings=_settings(), source=ModelSource(name, alias=os.environ.get("TABULAR_MLOPS_ALIAS", "champion"))
)
