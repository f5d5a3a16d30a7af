"""A model bundle: a registered model as a plain directory that loads without MLflow or ZenML.

    model.joblib   the fitted scikit-learn pipeline (schema enforcement, preprocessing, model)
    bundle.json    name, version, task, classes, the training schema, the model's metadata, the
                   versions of the libraries it was saved with, the SHA-256 of model.joblib

``export_bundle`` writes one from a loaded ``ServedModel`` (the project's environment);
``load_bundle`` reads it back with numpy, pandas, scikit-learn and the model's own libraries only,
which is all the Seldon microservice (``deploy/seldon/TabularSeldonModel.py``, seldon-core's
Python 3.12 / numpy 1.x environment) has. A bundled model answers exactly as the FastAPI server
does: requests are checked by the same rules (``records.py``), and predicted through the same
verified compiled path (``fast_path``), or the pipeline itself where that path is off.

``model.joblib`` is a pickle: load bundles only from a store you trust. The SHA-256 in
``bundle.json`` catches a truncated or swapped file, not a forged bundle.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.errors import TabularMLOpsError
from tabular_mlops.serving.model import ServedModel

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = "tabular-mlops-bundle/1"
MODEL_FILE = "model.joblib"
INFO_FILE = "bundle.json"
# Libraries whose versions decide whether a pickled pipeline loads and predicts the same (plus the
# model's own: lightgbm, xgboost, torch).
LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib")


class BundleError(TabularMLOpsError):
    """A bundle is missing, damaged, or needs a library this environment does not have."""


# ------------------------------------------------------------------------------------ export
def export_bundle(model: ServedModel, directory: str | Path) -> Path:
    """Write ``model`` (a loaded ``ServedModel``) as a bundle into ``directory`` (created; an existing
    bundle there is replaced). Returns the directory."""
    import joblib

    from tabular_mlops.registry.mlflow_registry import model_packages

    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    for name in (MODEL_FILE, INFO_FILE):
        (target / name).unlink(missing_ok=True)
    joblib.dump(model.pipeline, target / MODEL_FILE)
    requires = model_packages(model.pipeline)
    metadata = {key: value for key, value in model.metadata.items() if key != "schema"}
    info = {
        "format": BUNDLE_FORMAT,
        "name": model.name,
        "version": str(model.version),
        "stage": model.stage,
        "model_uri": model.model_uri,
        "task": model.schema.task,
        "target": model.schema.target,
        "classes": model.classes,
        "feature_names": model.schema.feature_names,
        "schema_fingerprint": model.schema.fingerprint(),
        "schema": model.schema.to_dict(),
        "metadata": json.loads(json.dumps(metadata, default=str)),
        "requires": sorted(requires),
        "libraries": _library_versions(*requires),
        "model_file": MODEL_FILE,
        "sha256": _sha256(target / MODEL_FILE),
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (target / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target


def copy_bundle(source: str | Path, destination: str | Path) -> Path:
    """Copy a bundle's two files into ``destination`` (a local directory)."""
    target = Path(destination)
    target.mkdir(parents=True, exist_ok=True)
    for name in (MODEL_FILE, INFO_FILE):
        shutil.copyfile(Path(source) / name, target / name)
    return target


def _library_versions(*extra: str) -> dict[str, str]:
    versions = {}
    for package in (*LIBRARIES, *extra):
        for distribution in (package, f"{package}-cpu"):  # xgboost-cpu: the same module, CPU-only wheel
            try:
                versions[package] = importlib.metadata.version(distribution)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return versions


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -------------------------------------------------------------------------------------- load
def read_bundle_info(directory: str | Path) -> dict[str, Any]:
    """``bundle.json`` of the bundle in ``directory`` (cheap: does not unpickle the model)."""
    path = Path(directory) / INFO_FILE
    if not path.is_file():
        raise BundleError(
            f"No model bundle in '{directory}': {INFO_FILE} is missing. Export one with "
            "tabular_mlops.serving.bundle.export_bundle (the Seldon deployment step does)."
        )
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"'{path}' is not a readable bundle description: {exc}") from exc
    if info.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"'{path}' has format {info.get('format')!r}; this server reads {BUNDLE_FORMAT!r}.")
    return info


def load_bundle(directory: str | Path, compile_fast_path: bool = True) -> ServedModel:
    """Load the bundle in ``directory``; ``BundleError`` says what is wrong or missing."""
    import joblib

    info = read_bundle_info(directory)
    missing = [package for package in info.get("requires", []) if importlib.util.find_spec(package) is None]
    if missing:
        family = info.get("metadata", {}).get("family", "?")
        raise BundleError(
            f"Model {info['name']} version {info['version']} (family {family}) needs {', '.join(missing)}, "
            "which this environment does not install (the Seldon image leaves out PyTorch, so the MLP "
            "family cannot be served by it): serve this model with the FastAPI server or the MLflow "
            "deployer, or train without the mlp family."
        )
    model_path = Path(directory) / info.get("model_file", MODEL_FILE)
    if not model_path.is_file():
        raise BundleError(f"The bundle in '{directory}' has no {model_path.name}.")
    digest = _sha256(model_path)
    if digest != info.get("sha256"):
        raise BundleError(
            f"'{model_path}' does not match its bundle.json (SHA-256 {digest[:12]}..., expected "
            f"{str(info.get('sha256'))[:12]}...): the file is damaged or was replaced."
        )
    here = _library_versions(*info.get("requires", []))
    for package, version in sorted(info.get("libraries", {}).items()):
        if package in here and package not in ("numpy", "joblib") and here[package] != version:
            logger.warning(
                "Bundle saved with %s %s, loading with %s: predictions may differ.", package, version, here[package]
            )
    try:
        pipeline = joblib.load(model_path)
    except ModuleNotFoundError as exc:
        raise BundleError(
            f"Loading '{model_path}' needs the Python module '{exc.name}', which is not installed."
        ) from exc
    model = ServedModel(
        pipeline=pipeline,
        schema=DatasetSchema.from_dict(info["schema"]),
        name=str(info["name"]),
        version=str(info["version"]),
        model_uri=str(info.get("model_uri", "")),
        stage=str(info.get("stage", "")),
        metadata=dict(info.get("metadata", {})),
    )
    return model.compile() if compile_fast_path else model
