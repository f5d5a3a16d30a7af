"""A model bundle: a registered model as a plain directory that loads without MLflow or ZenML.

    model.joblib   the fitted scikit-learn pipeline (schema enforcement, preprocessing, model)
    bundle.json    name, version, task, classes, the training schema, the model's metadata, the
                   versions of the libraries it was saved with, the SHA-256 of model.joblib

``export_bundle`` writes one from a loaded ``ServedModel`` (the project's environment);
``load_bundle`` reads it back with numpy, pandas, scikit-learn and the model's own libraries only,
which is all the Seldon microservice (``deploy/seldon/TabularSeldonModel.py``, seldon-core's
Python 3.12 / numpy 1.x environment) has. A bundled model answers exactly as the FastAPI server
does: requests are checked by ``check_records`` with the rules of the server's schema-generated
request models (``app.request_models``), and predicted through the same verified compiled path
(``fast_path``), or the pipeline itself where that path is off.

``model.joblib`` is a pickle: load bundles only from a store you trust. The SHA-256 in
``bundle.json`` catches a truncated or swapped file, not a forged bundle.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import math
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
DEFAULT_MAX_ROWS = 10_000  # the FastAPI server's default (app.DEFAULT_MAX_ROWS)
# Libraries whose versions decide whether a pickled pipeline loads and predicts the same (plus the
# model's own: lightgbm, xgboost, torch).
LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib")


class BundleError(TabularMLOpsError):
    """A bundle is missing, damaged, or needs a library this environment does not have."""


class RecordError(TabularMLOpsError):
    """A request does not match the training schema; ``field`` names the culprit, ``row`` its record."""

    def __init__(self, message: str, field: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.row = row


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


# ------------------------------------------------------------------------------------ checks
def check_records(
    records: Any,
    schema: DatasetSchema,
    unknown_fields: str = "reject",
    require_all_columns: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> list[dict[str, Any]]:
    """``records`` if every one matches the training schema, else ``RecordError`` naming the field.

    The rules of the FastAPI server's request models (``app._feature_type``): a numeric feature
    takes a finite number (not a boolean) or null; a boolean feature takes true/false or a string
    (``"yes"``, ``"0"``, ...) or null; any other feature takes a string, a finite number or null.
    An absent field is a missing value, imputed as in training, unless ``require_all_columns``.
    Unseen categories are accepted (the model maps them as in training). Fields the model does
    not know are rejected unless ``unknown_fields="ignore"``. The first problem is reported.
    """
    if not isinstance(records, list) or not records:
        raise RecordError("Send at least one record: the request holds no rows.")
    if len(records) > max_rows:
        raise RecordError(f"{len(records)} rows sent; the limit is {max_rows} per request.")
    roles = {column.name: column.role for column in schema.feature_columns}
    for row, record in enumerate(records):
        if not isinstance(record, dict):
            raise RecordError(f"Record {row} must be a JSON object of feature -> value.", row=row)
        for name, role in roles.items():
            if name not in record:
                if require_all_columns:
                    raise RecordError(
                        f"Field '{name}' is missing from record {row}; every feature is required "
                        "(send null for a missing value).",
                        field=name,
                        row=row,
                    )
                continue
            problem = _value_problem(role, record[name])
            if problem:
                raise RecordError(f"Field '{name}' in record {row}: {problem}.", field=name, row=row)
        if unknown_fields == "reject":
            for name in record:
                if name not in roles:
                    raise RecordError(
                        f"Unknown field '{name}' in record {row}: the model has no such feature "
                        f"(features: {', '.join(roles)}).",
                        field=str(name),
                        row=row,
                    )
    return records


def _value_problem(role: str, value: Any) -> str | None:
    if value is None:
        return None
    shown = f"got {type(value).__name__} {value!r}"
    if role == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number or null, {shown}"
        return None if _finite(value) else f"expected a finite number, {shown}"
    if role == "boolean":
        return None if isinstance(value, bool | str) else f"expected true/false, a string or null, {shown}"
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return f"expected a string, a number or null, {shown}"
    return None if not isinstance(value, float) or _finite(value) else f"expected a finite number, {shown}"


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def records_from_rows(
    rows: Any, names: Any, schema: DatasetSchema, numbers_as_text: bool = False
) -> list[dict[str, Any]]:
    """Records from a table of ``rows`` under column ``names`` (the schema's features, in order, when
    ``names`` is None): the shape checks of Seldon's ``{"names": [...], "ndarray": [[...]]}``.

    ``numbers_as_text``: the rows went through ``numpy.array``, which turns a row mixing numbers and
    strings into strings; numeric features are then parsed back (``"39"`` -> 39.0).
    """
    if names is None:
        names = schema.feature_names
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RecordError("'names' must be a list of column names (strings).", field="names")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise RecordError(f"Column '{name}' appears twice in 'names'.", field=name)
        seen.add(name)
    if not isinstance(rows, list) or not rows:
        raise RecordError("The table holds no rows: send at least one row.")
    if not any(isinstance(row, list) for row in rows):
        rows = [rows]  # one flat row
    numeric = set(schema.numeric_features)
    records = []
    for index, row in enumerate(rows):
        if not isinstance(row, list):
            raise RecordError(f"Row {index} must be a list of {len(names)} values.", row=index)
        if len(row) < len(names):
            raise RecordError(
                f"Row {index} has {len(row)} values for {len(names)} columns: no value for "
                f"'{names[len(row)]}' (send null for a missing value).",
                field=names[len(row)],
                row=index,
            )
        if len(row) > len(names):
            raise RecordError(
                f"Row {index} has {len(row)} values but 'names' lists {len(names)} columns ({', '.join(names)}).",
                row=index,
            )
        record = dict(zip(names, row, strict=True))
        if numbers_as_text:
            for name in numeric & record.keys():
                record[name] = _parse_number(record[name], name, index)
        records.append(record)
    return records


def _parse_number(value: Any, name: str, row: int) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return float(value)
    except ValueError:
        raise RecordError(
            f"Field '{name}' in record {row}: expected a number or null, got str {value!r}.", field=name, row=row
        ) from None


def records_from_json(body: Any, schema: DatasetSchema, max_rows: int = DEFAULT_MAX_ROWS) -> list[dict[str, Any]]:
    """Records from a JSON payload: a list of records, or the FastAPI server's bodies
    ``{"record": {...}}``, ``{"records": [...]}`` or ``{"columns": {feature: [values]}}``."""
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        raise RecordError(
            'Expected a list of records, {"records": [...]}, {"record": {...}} or {"columns": {...}}, '
            f"got {type(body).__name__}."
        )
    keys = set(body) & {"record", "records", "columns"}
    if len(keys) != 1 or set(body) - keys:
        raise RecordError(f"Expected exactly one of 'record', 'records' or 'columns'; got {sorted(body)}.")
    if "record" in body:
        return [body["record"]]
    if "records" in body:
        if not isinstance(body["records"], list) or not body["records"]:
            raise RecordError("'records' must be a non-empty list of objects.", field="records")
        return list(body["records"])
    columns = body["columns"]
    if not isinstance(columns, dict) or not columns:
        raise RecordError("'columns' must be an object of feature -> list of values.", field="columns")
    for name, values in columns.items():
        if not isinstance(values, list):
            raise RecordError(f"Column '{name}' must be a list of values.", field=str(name))
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise RecordError(f"Columns have different lengths: {lengths}.")
    n = next(iter(lengths.values()))
    if n > max_rows:
        raise RecordError(f"{n} rows sent; the limit is {max_rows} per request.")
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]
