"""Prediction requests as records, with the rules both servers apply (FastAPI and Seldon).

One module that needs neither FastAPI nor pydantic, so the Seldon microservice (seldon-core's own
Python 3.12 / numpy 1.x environment) checks requests exactly as the FastAPI server does:

- ``records_from_json``: the JSON bodies ``{"record": {...}}``, ``{"records": [...]}`` and
  ``{"columns": {feature: [values]}}`` (and, for Seldon's ``jsonData``, a bare list of records);
- ``records_from_rows``: a table of rows under column names (Seldon's ``ndarray``);
- ``ACCEPTED``: the JSON types each feature role takes. The FastAPI server builds its pydantic
  request models (and so ``/docs``) from this table; ``check_records`` applies it in plain Python.

Every failure is a ``RecordError`` naming the field and the record; ``RowLimitError`` when a request
holds more rows than allowed.
"""

from __future__ import annotations

import math
from typing import Any

from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.errors import TabularMLOpsError

DEFAULT_MAX_ROWS = 10_000

# The JSON types a feature takes, by role (null is always accepted: a missing value, imputed as in
# training). ``float`` takes integers too, and must be finite; ``bool`` is never a number.
ACCEPTED: dict[str, tuple[type, ...]] = {
    "numeric": (float,),
    "boolean": (bool, str),  # true/false, or "yes"/"0"/... as in the training data
}
ACCEPTED_OTHERWISE: tuple[type, ...] = (str, int, float)  # categorical, datetime, text: unseen values too

_NAMES = {float: "a number", int: "a number", str: "a string", bool: "true/false"}


class RecordError(TabularMLOpsError):
    """A request does not match the training schema; ``field`` names the culprit, ``row`` its record."""

    def __init__(self, message: str, field: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.row = row


class RowLimitError(RecordError):
    """A request holds more rows than the server takes."""


def accepted_types(role: str) -> tuple[type, ...]:
    return ACCEPTED.get(role, ACCEPTED_OTHERWISE)


# ------------------------------------------------------------------------------------ bodies
def records_from_json(body: Any, max_rows: int = DEFAULT_MAX_ROWS, allow_list: bool = True) -> list[dict[str, Any]]:
    """Records from a JSON body: ``{"record": {...}}``, ``{"records": [...]}``, ``{"columns": {...}}``,
    or (``allow_list``) a bare list of records. Shapes only: values are ``check_records``' work."""
    if isinstance(body, list) and allow_list:
        records: list[Any] = body
    elif not isinstance(body, dict):
        raise RecordError(
            'Body must be a JSON object: {"records": [...]}, {"record": {...}} or {"columns": {...}}'
            + (" (or a list of records)" if allow_list else "")
            + f"; got {type(body).__name__}."
        )
    else:
        keys = set(body) & {"record", "records", "columns"}
        if len(keys) != 1 or set(body) - keys:
            raise RecordError(f"Body must have exactly one of 'record', 'records' or 'columns'; got {sorted(body)}.")
        if "record" in body:
            records = [body["record"]]
        elif "records" in body:
            records = body["records"]
            if not isinstance(records, list) or not records:
                raise RecordError("'records' must be a non-empty list of objects.", field="records")
        else:
            records = _columns_to_records(body["columns"])
    if len(records) > max_rows:
        raise RowLimitError(f"{len(records)} rows sent; the limit is {max_rows} per request.")
    return records


def _columns_to_records(columns: Any) -> list[dict[str, Any]]:
    if not isinstance(columns, dict) or not columns:
        raise RecordError("'columns' must be an object of feature -> list of values.", field="columns")
    for name, values in columns.items():
        if not isinstance(values, list):
            raise RecordError(f"Column '{name}' must be a list of values.", field=str(name))
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise RecordError(f"Columns have different lengths: {lengths}.")
    n = next(iter(lengths.values()))
    if n == 0:
        raise RecordError("Columns are empty: send at least one row.")
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


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


# ------------------------------------------------------------------------------------ values
def check_records(
    records: Any,
    schema: DatasetSchema,
    unknown_fields: str = "reject",
    require_all_columns: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> list[dict[str, Any]]:
    """``records`` if every one matches the training schema (``ACCEPTED``), else ``RecordError``
    naming the field.

    An absent field is a missing value, imputed as in training, unless ``require_all_columns``.
    Unseen categories are accepted (the model maps them as in training). Fields the model does
    not know are rejected unless ``unknown_fields="ignore"``. The first problem is reported.
    """
    if not isinstance(records, list) or not records:
        raise RecordError("Send at least one record: the request holds no rows.")
    if len(records) > max_rows:
        raise RowLimitError(f"{len(records)} rows sent; the limit is {max_rows} per request.")
    accepted = {column.name: accepted_types(column.role) for column in schema.feature_columns}
    for row, record in enumerate(records):
        if not isinstance(record, dict):
            raise RecordError(f"Record {row} must be a JSON object of feature -> value.", row=row)
        for name, types in accepted.items():
            if name not in record:
                if require_all_columns:
                    raise RecordError(
                        f"Field '{name}' is missing from record {row}; every feature is required "
                        "(send null for a missing value).",
                        field=name,
                        row=row,
                    )
                continue
            problem = value_problem(types, record[name])
            if problem:
                raise RecordError(f"Field '{name}' in record {row}: {problem}.", field=name, row=row)
        if unknown_fields == "reject":
            for name in record:
                if name not in accepted:
                    raise RecordError(
                        f"Unknown field '{name}' in record {row}: the model has no such feature "
                        f"(features: {', '.join(accepted)}).",
                        field=str(name),
                        row=row,
                    )
    return records


def value_problem(types: tuple[type, ...], value: Any) -> str | None:
    """None when ``value`` is one of ``types`` (or null), else what was expected and what came."""
    if value is None:
        return None
    if isinstance(value, bool):
        kind: type = bool
    elif isinstance(value, int) and int not in types:
        kind = float  # an integer where a number is expected
    else:
        kind = type(value)
    shown = f"got {type(value).__name__} {value!r}"
    if kind not in types:
        return f"expected {', '.join(dict.fromkeys(_NAMES[t] for t in types))} or null, {shown}"
    if kind is float and not _finite(value):
        return f"expected a finite number, {shown}"
    return None


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False
