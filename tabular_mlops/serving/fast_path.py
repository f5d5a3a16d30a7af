"""A compiled prediction path: JSON records straight to the model's input matrix, without pandas.

Profiling one Adult row through the fitted scikit-learn pipeline puts about 90 % of the time in
pandas and the ``ColumnTransformer`` (building a DataFrame, schema enforcement, imputers, one-hot
encoders, ``hstack``), not in the model. Every transformer this project fits works on one input
column at a time, so the whole preprocessing is, per column, either

* a number, imputed and scaled (``(x - mean) / scale``, computed as the fitted scaler computes it,
  so tree thresholds see the same bits), plus a constant missing indicator; fixed values when the
  number is missing; or
* a lookup table of a category (one-hot, infrequent grouping, target encoding, booleans), with
  fixed vectors for a missing and for an unseen value;

followed by a fixed column selection (variance threshold, feature selection). ``compile_pipeline``
reads those maps off the fitted pipeline by *probing it* (one row per category, two per number),
so it needs no knowledge of each transformer's internals, then verifies the compiled path against
the pipeline on generated rows — values, missing values and unseen categories — before it is used.
A pipeline it cannot reproduce exactly (date columns, a transformer mixing columns) raises
``NotCompilable`` and the server keeps the scikit-learn path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tabular_mlops.data.schema import FALSE_TOKENS, TRUE_TOKENS, DatasetSchema
from tabular_mlops.evaluation.threshold import ThresholdClassifier

UNSEEN = "\x00unseen-category\x00"


class NotCompilable(Exception):  # noqa: N818 - reads as a reason
    """The pipeline cannot be reproduced exactly by the compiled path."""


@dataclass
class _Numeric:
    name: str
    index: int  # position in a record vector
    main: int  # the output column of the (imputed, scaled) value
    mean: float  # as the fitted scaler computes it: (x - mean) / scale, bit for bit
    scale: float
    flags: np.ndarray  # other owned outputs (missing indicator): constant when the value is present
    flag_values: np.ndarray


@dataclass
class _Lookup:
    name: str
    boolean: bool
    outputs: np.ndarray
    table: dict[str, np.ndarray]
    unseen: np.ndarray


def number(value: Any) -> float:
    """A JSON value as the pipeline's schema enforcement reads a number (unparseable -> missing)."""
    if value is None or isinstance(value, bool):
        return math.nan if value is None else float(value)
    try:
        result = float(value)
    except (TypeError, ValueError):
        return math.nan
    return result if math.isfinite(result) else math.nan


def category(value: Any) -> str | None:
    """A JSON value as a category string (1.0 -> '1'), as in training."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    return str(value)


def boolean(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip().lower()
    if text in TRUE_TOKENS or text in {"1", "1.0"}:
        return "true"
    if text in FALSE_TOKENS or text in {"0", "0.0"}:
        return "false"
    return None


class CompiledPipeline:
    """``predict`` / ``predict_proba`` of a fitted model pipeline on JSON records, bit-for-bit."""

    def __init__(
        self,
        pipeline: Pipeline,
        schema: DatasetSchema,
        numeric: list[_Numeric],
        lookups: list[_Lookup],
        base: np.ndarray,
        keep: np.ndarray,
        sparse: bool,
    ) -> None:
        self.pipeline = pipeline
        self.schema = schema
        self.estimator = pipeline.steps[-1][1]
        self._numeric = numeric
        self._lookups = lookups
        self._base = base
        self._keep = keep
        self._sparse = sparse
        self._numeric_names = [n.name for n in numeric]
        self._model_call = _model_call(self.estimator, schema.task, sparse)

    # ----------------------------------------------------------------------------- transform
    def transform(self, records: Sequence[Mapping[str, Any]]) -> Any:
        """The model's input matrix for ``records`` (dense, or CSR where training used CSR)."""
        n = len(records)
        out = np.repeat(self._base[None, :], n, axis=0)
        if self._numeric:
            values = np.array([[number(r.get(name)) for name in self._numeric_names] for r in records], dtype=float)
            for plan in self._numeric:
                column = values[:, plan.index]
                present = ~np.isnan(column)
                if present.all():
                    out[:, plan.main] = (column - plan.mean) / plan.scale
                    if plan.flags.size:
                        out[:, plan.flags] = plan.flag_values
                elif present.any():
                    rows = np.flatnonzero(present)
                    out[rows, plan.main] = (column[rows] - plan.mean) / plan.scale
                    if plan.flags.size:
                        out[np.ix_(rows, plan.flags)] = plan.flag_values
        for lookup in self._lookups:
            convert = boolean if lookup.boolean else category
            for row, record in enumerate(records):
                key = convert(record.get(lookup.name))
                if key is not None:
                    out[row, lookup.outputs] = lookup.table.get(key, lookup.unseen)
        selected = out[:, self._keep]
        return sp.csr_matrix(selected) if self._sparse and self._model_call is None else selected

    def predict_records(self, records: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray | None]:
        """(predictions, class probabilities or None) exactly as the pipeline's predict/predict_proba."""
        X = self.transform(records)
        if self._model_call is not None:
            output = self._model_call(X)
            if self.schema.task == "regression":
                return output, None
            probabilities = output
        elif self.schema.task == "regression":
            return np.asarray(self.estimator.predict(X)), None
        else:
            probabilities = np.asarray(self.estimator.predict_proba(X))
        classes = np.asarray(self.estimator.classes_)
        if isinstance(self.estimator, ThresholdClassifier):
            positive = probabilities[:, self.estimator.positive_index_] >= self.estimator.threshold
            other = classes[1 - self.estimator.positive_index_]
            return np.where(positive, classes[self.estimator.positive_index_], other), probabilities
        return classes[np.argmax(probabilities, axis=1)], probabilities


def _model_call(estimator: Any, task: str, sparse: bool) -> Any:
    """A leaner call of the model itself where the library offers one (LightGBM's booster on one
    thread: its scikit-learn wrapper validates input and starts a thread pool per call, about
    10x the work of the trees on a single row). ``None``: call the estimator as it is."""
    inner = estimator.estimator_ if isinstance(estimator, ThresholdClassifier) else estimator
    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
    except ImportError:  # pragma: no cover - lightgbm is a dependency
        return None
    if not isinstance(inner, LGBMClassifier | LGBMRegressor):
        return None
    booster = inner.booster_
    iterations = inner.best_iteration_ or None
    binary = task == "binary"

    def call(X: np.ndarray) -> np.ndarray:
        raw = np.asarray(booster.predict(X, num_iteration=iterations, num_threads=1 if len(X) <= 256 else 0))
        if binary:
            return np.column_stack([1.0 - raw, raw])
        return raw

    return call


# --------------------------------------------------------------------------------- compile
def compile_pipeline(pipeline: Pipeline, schema: DatasetSchema, verify_rows: int = 200, seed: int = 0) -> Any:
    """Compile ``preprocess -> model`` into a ``CompiledPipeline``; raise ``NotCompilable`` if not exact."""
    try:
        preprocess = pipeline.named_steps["preprocess"]
        enforcer = preprocess.named_steps["schema"]
        columns = preprocess.named_steps["columns"]
    except (AttributeError, KeyError) as exc:
        raise NotCompilable(f"not a pipeline of this project ({exc})") from exc
    if tuple(enforcer.datetime_features):
        raise NotCompilable(f"date columns {list(enforcer.datetime_features)} are expanded by pandas")
    selectors = [step for name, step in preprocess.steps if name not in ("schema", "columns")]
    keep = np.arange(_width(columns, enforcer))
    for selector in selectors:
        if not hasattr(selector, "get_support"):
            raise NotCompilable(f"step {type(selector).__name__} is not a column selection")
        keep = keep[selector.get_support()]

    numeric_names = list(enforcer.numeric_features)
    categorical_names = list(enforcer.categorical_features)
    boolean_names = list(enforcer.boolean_features)
    known = _known_categories(columns)

    def encode(frame: pd.DataFrame) -> np.ndarray:
        matrix = columns.transform(enforcer.transform(frame))
        return np.asarray(matrix.toarray() if sp.issparse(matrix) else matrix, dtype=float)

    empty = {n: None for n in [*numeric_names, *categorical_names, *boolean_names]}
    base = encode(_frame([empty], numeric_names))[0]
    numeric: list[_Numeric] = []
    if numeric_names:
        probes = [empty | {name: value} for name in numeric_names for value in (0.0, 1.0)]
        matrix = encode(_frame(probes, numeric_names))
        scalers = _scalers(columns)
        for i, name in enumerate(numeric_names):
            at_zero, at_one = matrix[2 * i], matrix[2 * i + 1]
            owned = np.flatnonzero((at_zero != base) | (at_one != base))
            moving = owned[at_zero[owned] != at_one[owned]]
            if len(moving) != 1 or name not in scalers:
                raise NotCompilable(f"numeric column '{name}' is not one imputed, scaled value")
            flags = owned[owned != moving[0]]
            mean, scale = scalers[name]
            numeric.append(_Numeric(name, i, int(moving[0]), mean, scale, flags, at_zero[flags].copy()))
    lookups: list[_Lookup] = []
    for name in [*categorical_names, *boolean_names]:
        values = sorted(set(known.get(name, ())) | set(_schema_categories(schema, name)))
        values = [v for v in values if v is not None] + [UNSEEN]
        if name in boolean_names:
            values = ["true", "false", UNSEEN]
        matrix = encode(_frame([empty | {name: v} for v in values], numeric_names))
        owned = np.flatnonzero((matrix != base).any(axis=0))
        table = {v: matrix[i, owned].copy() for i, v in enumerate(values[:-1])}
        lookups.append(_Lookup(name, name in boolean_names, owned, table, matrix[-1, owned].copy()))
    owners = np.zeros(base.shape[0], dtype=int)
    for number_plan in numeric:
        owners[number_plan.main] += 1
        owners[number_plan.flags] += 1
    for lookup in lookups:
        owners[lookup.outputs] += 1
    if (owners > 1).any():
        raise NotCompilable("an output column depends on several input columns")
    compiled = CompiledPipeline(
        pipeline, schema, numeric, lookups, base, keep, sparse=bool(getattr(columns, "sparse_output_", False))
    )
    verify(compiled, generated_records(schema, verify_rows, seed))
    return compiled


def verify(compiled: CompiledPipeline, records: list[dict[str, Any]]) -> None:
    """Raise ``NotCompilable`` unless the compiled path matches the pipeline on ``records``."""
    frame = pd.DataFrame.from_records(records, columns=compiled.schema.feature_names)
    expected = compiled.pipeline.named_steps["preprocess"].transform(frame)
    expected = np.asarray(expected.toarray() if sp.issparse(expected) else expected, dtype=float)
    got = compiled.transform(records)
    got = np.asarray(got.toarray() if sp.issparse(got) else got, dtype=float)
    if got.shape != expected.shape or not np.array_equal(got, expected, equal_nan=True):
        raise NotCompilable("compiled features differ from the pipeline's (bit for bit)")
    predictions, probabilities = compiled.predict_records(records)
    if not np.array_equal(predictions.astype(str), np.asarray(compiled.pipeline.predict(frame)).astype(str)):
        raise NotCompilable("compiled predictions differ from the pipeline's")
    if probabilities is not None and not np.allclose(
        probabilities, compiled.pipeline.predict_proba(frame), rtol=1e-12, atol=1e-15
    ):
        raise NotCompilable("compiled probabilities differ from the pipeline's")


def generated_records(schema: DatasetSchema, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Rows in the schema's ranges and categories, with missing values and unseen categories."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = [{} for _ in range(n)]
    for column in schema.feature_columns:
        for row in rows:
            draw = rng.random()
            if draw < 0.1:
                row[column.name] = None
            elif column.role == "numeric":
                low = column.minimum if column.minimum is not None else -10.0
                high = column.maximum if column.maximum is not None else 10.0
                value = float(rng.uniform(low, high))
                row[column.name] = round(value) if draw < 0.5 else value
            elif column.role == "boolean":
                row[column.name] = bool(draw < 0.55)
            elif draw < 0.15 or not column.categories:
                row[column.name] = "never-seen-in-training"
            else:
                row[column.name] = column.categories[int(rng.integers(len(column.categories)))]
    return rows


def _frame(records: list[dict[str, Any]], numeric: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records)
    for name in numeric:
        frame[name] = frame[name].astype("float64")
    return frame


def _width(columns: Any, enforcer: Any) -> int:
    return len(columns.get_feature_names_out())


def _scalers(columns: Any) -> dict[str, tuple[float, float]]:
    """(mean, scale) of each numeric input column's StandardScaler ((0, 1) without one)."""
    found: dict[str, tuple[float, float]] = {}
    for _, transformer, names in columns.transformers_:
        if not isinstance(transformer, Pipeline):
            continue
        imputers = [s for _, s in transformer.steps if isinstance(s, SimpleImputer)]
        if len(imputers) != 1 or imputers[0].strategy == "constant" or np.isnan(imputers[0].statistics_).any():
            continue
        scaler = next((s for _, s in transformer.steps if isinstance(s, StandardScaler)), None)
        for k, name in enumerate(names):
            mean = float(scaler.mean_[k]) if scaler is not None and scaler.mean_ is not None else 0.0
            scale = float(scaler.scale_[k]) if scaler is not None and scaler.scale_ is not None else 1.0
            found[str(name)] = (mean, scale)
    return found


def _known_categories(columns: Any) -> dict[str, list[str]]:
    """Categories the fitted encoders know, per input column."""
    known: dict[str, list[str]] = {}
    for _, transformer, names in columns.transformers_:
        steps = transformer.steps if isinstance(transformer, Pipeline) else [("", transformer)]
        for _, step in steps:
            categories = getattr(step, "categories_", None)
            if categories is not None and len(categories) == len(names):
                for name, values in zip(names, categories, strict=True):
                    known[str(name)] = [str(v) for v in values]
    return known


def _schema_categories(schema: DatasetSchema, name: str) -> tuple[str, ...]:
    for column in schema.columns:
        if column.name == name:
            return column.categories
    return ()
