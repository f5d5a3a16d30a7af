"""MLflow 3 model logging and registry helpers.

Two MLflow 3 facts shape this module (see the project notes): models are registered with
``mlflow.register_model`` on the ``models:/m-<id>`` URI of the logged model, so that
``models:/NAME/VERSION`` loads; and pip requirements are given explicitly, which keeps logging
fast and the served environment identical to the training one.
"""

from __future__ import annotations

import importlib.metadata
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline

import tabular_mlops
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.errors import ModelNotFoundError

MODEL_ARTIFACT_NAME = "model"
REFERENCE_ARTIFACT = "reference/train_sample.parquet"  # training rows that drift monitoring compares with
BASE_REQUIREMENTS = ("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "cloudpickle", "pyyaml")


@dataclass(frozen=True)
class RegisteredModel:
    """Where a registered model version lives."""

    name: str
    version: str
    model_uri: str
    run_id: str | None

    @property
    def registry_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def model_packages(model: Any) -> set[str]:
    """The optional libraries a fitted model holds objects of (LightGBM, XGBoost, PyTorch), found
    by walking the pipeline, ensembles and bagged fold models."""
    found: set[str] = set()
    seen: set[int] = set()

    def visit(obj: Any) -> None:
        if id(obj) in seen or obj is None or isinstance(obj, str | int | float | bool):
            return
        seen.add(id(obj))
        root = type(obj).__module__.split(".")[0]
        if root in {"lightgbm", "xgboost", "torch"}:
            found.add(root)
        if type(obj).__name__.startswith("TorchMLP"):
            found.add("torch")
        if isinstance(obj, list | tuple):
            for item in obj:
                visit(item)
        elif isinstance(obj, dict):
            for item in obj.values():
                visit(item)
        elif hasattr(obj, "get_params") or type(obj).__module__.startswith("tabular_mlops"):
            for name, value in vars(obj).items():
                if name.endswith("_") or name in {"steps", "estimators", "models", "estimator", "regressor"}:
                    visit(value)

    visit(model)
    return found


def pip_requirements(model: Any) -> list[str]:
    """Exact pins of what the model needs at load time, read from the running environment."""
    packages = list(BASE_REQUIREMENTS) + sorted(model_packages(model))
    return [f"{p}=={importlib.metadata.version(p)}" for p in packages]


def log_model(
    model: Pipeline,
    example: pd.DataFrame,
    schema: DatasetSchema,
    metadata: dict[str, Any] | None = None,
) -> mlflow.models.model.ModelInfo:
    """Log the whole preprocessing + estimator pipeline to the active MLflow run.

    The training schema goes into the MLmodel ``metadata`` so that any server loading the model
    can check inputs against it; the library's code is shipped with the model (``code_paths``)
    so that its first step, :class:`SchemaEnforcer`, loads wherever MLflow does.
    """
    example = example.head(5)
    signature = infer_signature(example, model.predict(example))
    package_dir = str(Path(tabular_mlops.__file__).parent)
    return mlflow.sklearn.log_model(
        sk_model=model,
        name=MODEL_ARTIFACT_NAME,
        signature=signature,
        input_example=example,
        pip_requirements=pip_requirements(model),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        code_paths=[package_dir],
        metadata={"schema": schema.to_dict(), **(metadata or {})},
    )


def register_model(
    model_uri: str, name: str, tags: dict[str, str] | None = None, description: str = ""
) -> RegisteredModel:
    """Register ``model_uri`` (a ``models:/m-<id>`` URI) as a new version of ``name``."""
    client = MlflowClient()
    version = mlflow.register_model(model_uri, name, tags=tags or {})
    if description:
        client.update_model_version(name, version.version, description=description)
    return RegisteredModel(name=name, version=str(version.version), model_uri=model_uri, run_id=version.run_id)


def latest_version(name: str) -> RegisteredModel:
    """The highest version number registered under ``name``."""
    client = MlflowClient()
    versions = client.search_model_versions(f"name = '{name}'")
    if not versions:
        raise ModelNotFoundError(
            f"No registered model named '{name}' in the MLflow registry at "
            f"'{mlflow.get_tracking_uri()}'; train one first with `python run.py train`."
        )
    newest = max(versions, key=lambda v: int(v.version))
    return RegisteredModel(name=name, version=str(newest.version), model_uri=str(newest.source), run_id=newest.run_id)


def production_version(name: str) -> RegisteredModel:
    """The version holding the ``champion`` alias (stage production)."""
    client = MlflowClient()
    try:
        found = client.get_model_version_by_alias(name, "champion")
    except mlflow.exceptions.MlflowException as exc:
        raise ModelNotFoundError(
            f"Model '{name}' has no production version yet. Approve a staging version with "
            '`python run.py promote --version N --approve --reason "..."` (see `python run.py models`), '
            "or pass --version."
        ) from exc
    return RegisteredModel(name=name, version=str(found.version), model_uri=str(found.source), run_id=found.run_id)


def get_version(name: str, version: str | int) -> RegisteredModel:
    """A specific registered version, with a clear error when it does not exist."""
    client = MlflowClient()
    try:
        found = client.get_model_version(name, str(version))
    except mlflow.exceptions.MlflowException as exc:
        raise ModelNotFoundError(f"Model '{name}' has no version {version} in the MLflow registry.") from exc
    return RegisteredModel(name=name, version=str(found.version), model_uri=str(found.source), run_id=found.run_id)


def resolve_version(name: str, version: str | int | None = None) -> RegisteredModel:
    """``version`` of ``name`` when given, else its production version; the errors say what exists."""
    if version is not None and str(version).strip():
        return get_version(name, version)
    try:
        return production_version(name)
    except ModelNotFoundError:
        latest_version(name)  # no such model at all: say that instead
        raise


def model_metadata(model_uri: str) -> dict[str, Any]:
    """The ``metadata`` block stored in the MLmodel file (schema, metrics, lineage)."""
    info = mlflow.models.get_model_info(model_uri)
    return dict(info.metadata or {})


def log_reference_sample(train: pd.DataFrame, schema: DatasetSchema, max_rows: int, seed: int = 0) -> int:
    """Log a seeded sample of the training rows (features and target, typed) to the active MLflow run
    as ``reference/train_sample.parquet``: the reference that drift monitoring compares new data with.
    Returns the number of rows logged."""
    columns = [c for c in [*schema.feature_names, schema.target] if c in train.columns]
    sample = train[columns]
    if len(sample) > max_rows:
        sample = sample.sample(n=max_rows, random_state=seed)
    folder, name = REFERENCE_ARTIFACT.rsplit("/", 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        sample.reset_index(drop=True).to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=folder)
    return len(sample)


def load_reference_sample(registered: RegisteredModel) -> pd.DataFrame:
    """The training rows logged with ``registered`` by :func:`log_reference_sample`."""
    where = f"Model '{registered.name}' version {registered.version}"
    if not registered.run_id:
        raise ModelNotFoundError(f"{where} has no MLflow run, so no reference sample of its training rows.")
    try:
        local = mlflow.artifacts.download_artifacts(run_id=registered.run_id, artifact_path=REFERENCE_ARTIFACT)
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        raise ModelNotFoundError(
            f"{where} has no sample of its training rows (MLflow run {registered.run_id} has no "
            f"'{REFERENCE_ARTIFACT}'), so drift cannot be measured: it was registered before drift monitoring "
            "existed. Retrain it with `python run.py train`."
        ) from exc
    return pd.read_parquet(local)
