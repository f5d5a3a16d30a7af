"""Model bundles (the Seldon component's model): export, load, and the FastAPI server's checks and answers."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from tabular_mlops.data.schema import ColumnSchema, DatasetSchema
from tabular_mlops.serving.app import _rejection, request_models
from tabular_mlops.serving.bundle import (
    INFO_FILE,
    MODEL_FILE,
    BundleError,
    export_bundle,
    load_bundle,
    read_bundle_info,
)
from tabular_mlops.serving.model import ServedModel
from tabular_mlops.serving.records import RecordError, check_records, records_from_json, records_from_rows
from tests.conftest import fit_model


@pytest.fixture(scope="module")
def served(adult_sample: pd.DataFrame) -> ServedModel:
    pipeline, schema = fit_model(adult_sample, "income", n_estimators=40)
    return ServedModel(pipeline=pipeline, schema=schema, name="adult-income", version="5", model_uri="models:/a/5")


@pytest.fixture(scope="module")
def bundle_dir(served: ServedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_bundle(served, tmp_path_factory.mktemp("bundle"))


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def test_bundle_describes_the_model(bundle_dir: Path, served: ServedModel) -> None:
    info = read_bundle_info(bundle_dir)
    assert sorted(p.name for p in bundle_dir.iterdir()) == [INFO_FILE, MODEL_FILE]
    assert info["name"] == "adult-income" and info["version"] == "5" and info["task"] == "binary"
    assert info["classes"] == served.classes and info["feature_names"] == served.schema.feature_names
    assert info["requires"] == ["lightgbm"] and "scikit-learn" in info["libraries"]
    assert DatasetSchema.from_dict(info["schema"]) == served.schema


@pytest.mark.parametrize("compiled", [True, False])
def test_bundled_model_answers_as_the_served_model(
    bundle_dir: Path, served: ServedModel, adult_frame: pd.DataFrame, compiled: bool
) -> None:
    bundled = load_bundle(bundle_dir, compile_fast_path=compiled)
    assert (bundled.compiled is not None) is compiled
    reference = ServedModel(**{**served.__dict__, "compiled": None, "fast_path_note": "not compiled"})
    if compiled:
        reference.compile()
    rows = records(adult_frame.tail(300).drop(columns=["income"]))
    rows[0] = {**rows[0], "workclass": "never-seen-in-training", "age": None}
    assert bundled.predict_records(rows) == reference.predict_records(rows)


def test_damaged_or_foreign_bundles_are_refused(bundle_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(bundle_dir, tmp_path / "copy"))
    with (copy / MODEL_FILE).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match=r"does not match its bundle\.json"):
        load_bundle(copy)
    info = json.loads((copy / INFO_FILE).read_text())
    (copy / INFO_FILE).write_text(json.dumps({**info, "requires": ["lightgbm", "no_such_module_xyz"]}))
    with pytest.raises(BundleError, match=r"needs no_such_module_xyz.*leaves out PyTorch"):
        load_bundle(copy)
    (copy / INFO_FILE).write_text(json.dumps({**info, "format": "other/9"}))
    with pytest.raises(BundleError, match="has format 'other/9'"):
        load_bundle(copy)
    with pytest.raises(BundleError, match=r"bundle\.json is missing"):
        load_bundle(tmp_path / "nowhere")


# ------------------------------------------------------------------------- the FastAPI checks
SCHEMA = DatasetSchema(
    target="y",
    task="binary",
    columns=(
        ColumnSchema("age", "numeric", minimum=0, maximum=100),
        ColumnSchema("city", "categorical", categories=("Paris", "Rome")),
        ColumnSchema("member", "boolean", categories=("true", "false")),
        ColumnSchema("joined", "datetime"),
        ColumnSchema("id", "identifier"),
    ),
    classes=("no", "yes"),
)

VALUES = [None, 0, 39, -2.5, 1e300, 10**400, True, False, "39", "", "Paris", "yes", math.nan, math.inf, [1], {"a": 1}]


def fastapi_verdict(record: dict[str, Any]) -> str | None:
    """None when the FastAPI server's request model accepts ``record``, else the field it names."""
    try:
        request_models(SCHEMA).rows.validate_python([record])
    except ValidationError as exc:
        return str(_rejection(exc).field)
    return None


def bundle_verdict(record: dict[str, Any]) -> str | None:
    try:
        check_records([record], SCHEMA)
    except RecordError as exc:
        return str(exc.field)
    return None


@pytest.mark.parametrize("name", ["age", "city", "member", "joined"])
def test_checks_are_the_fastapi_servers(name: str) -> None:
    for value in VALUES:
        record = {"age": 40, "city": "Rome", name: value}
        assert bundle_verdict(record) == fastapi_verdict(record), f"{name}={value!r}"


def test_unknown_absent_and_required_fields() -> None:
    assert bundle_verdict({"age": 1, "colour": "red"}) == fastapi_verdict({"age": 1, "colour": "red"}) == "colour"
    assert bundle_verdict({"id": 3}) == "id"  # an excluded column is not a feature
    assert check_records([{"colour": "red"}], SCHEMA, unknown_fields="ignore") == [{"colour": "red"}]
    assert check_records([{}], SCHEMA) == [{}]  # absent = missing, as the FastAPI server
    with pytest.raises(RecordError, match="Field 'city' is missing from record 1") as error:
        check_records(
            [{"age": 1, "city": None, "member": None, "joined": None}, {"age": 2}], SCHEMA, require_all_columns=True
        )
    assert error.value.field == "city" and error.value.row == 1


@pytest.mark.parametrize(
    ("payload", "words"),
    [([], "at least one record"), ([1], "Record 0 must be a JSON object"), ([{}] * 3, "limit is 2")],
)
def test_record_list_problems(payload: Any, words: str) -> None:
    with pytest.raises(RecordError, match=words):
        check_records(payload, SCHEMA, max_rows=2)


def test_rows_under_names() -> None:
    rows = records_from_rows([[39, "Paris"], [None, "Rome"]], ["age", "city"], SCHEMA)
    assert rows == [{"age": 39, "city": "Paris"}, {"age": None, "city": "Rome"}]
    assert records_from_rows([39, "Paris", True, None], None, SCHEMA) == [
        {"age": 39, "city": "Paris", "member": True, "joined": None}
    ]  # one flat row, the features in training order
    assert records_from_rows([["39", "Paris"]], ["age", "city"], SCHEMA, numbers_as_text=True) == [
        {"age": 39.0, "city": "Paris"}
    ]


@pytest.mark.parametrize(
    ("rows", "names", "field", "words"),
    [
        ([[39]], ["age", "city"], "city", "no value for 'city'"),
        ([[39, "Paris", 1]], ["age", "city"], None, "3 values but 'names' lists 2"),
        ([[39, "Paris"], 3], ["age", "city"], None, "Row 1 must be a list"),
        ([], ["age"], None, "no rows"),
        ([[1, 2]], ["age", "age"], "age", "appears twice"),
        ([[1]], "age", "names", "list of column names"),
        ([["forty"]], ["age"], "age", "expected a number"),
    ],
)
def test_row_shape_problems(rows: Any, names: Any, field: str | None, words: str) -> None:
    with pytest.raises(RecordError, match=words) as error:
        records_from_rows(rows, names, SCHEMA, numbers_as_text=True)
    assert error.value.field == field


def test_json_bodies_of_the_fastapi_server() -> None:
    one = {"age": 3}
    assert records_from_json([one]) == [one]
    assert records_from_json({"record": one}) == [one]
    assert records_from_json({"records": [one, one]}) == [one, one]
    assert records_from_json({"columns": {"age": [1, 2], "city": ["a", None]}}) == [
        {"age": 1, "city": "a"},
        {"age": 2, "city": None},
    ]
    for body, words in [
        ("x", "got str"),
        ({"rows": []}, "exactly one of"),
        ({"records": []}, "non-empty"),
        ({"columns": {"age": 1}}, "must be a list"),
        ({"columns": {"age": [1], "city": []}}, "different lengths"),
        ({"columns": {"age": [1, 2, 3]}}, "limit is 2"),
    ]:
        with pytest.raises(RecordError, match=words):
            records_from_json(body, max_rows=2)
