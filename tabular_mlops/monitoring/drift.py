"""Data and prediction drift of a batch against the model's training rows, with Evidently 0.7.

The reference is a seeded sample of the training split that registration stores with the model
(see :func:`tabular_mlops.registry.mlflow_registry.load_reference_sample`); the current data is the
new batch. Evidently's ``DataDriftPreset`` tests every feature column (the method is chosen per
column type and sample size unless ``monitoring.stattest`` names one), ``ValueDrift`` tests the
model's outputs on both (prediction drift) and ``DataSummaryPreset`` describes the batch. The gate:
drift when the share of drifted feature columns is above ``monitoring.drift_share_threshold``.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.config import MonitoringConfig
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.errors import ConfigError, DataError

PREDICTION_COLUMN = "prediction"
PROBABILITY_PREFIX = "probability_"
EMPTY_METHOD = "all values missing on one side"


@dataclass(frozen=True)
class ColumnDrift:
    """The drift test of one column: Evidently's method, its score and threshold, the verdict."""

    column: str
    kind: str  # numeric | categorical
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass
class DriftResult:
    """Drift of one batch: per feature column, of the predictions, the gate, and Evidently's HTML report."""

    model_name: str
    model_version: str
    threshold: float
    reference_rows: int
    current_rows: int
    columns: list[ColumnDrift]
    predictions: list[ColumnDrift] = field(default_factory=list)
    data_summary: dict[str, float] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)
    html: str = field(default="", repr=False)

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def n_drifted(self) -> int:
        return len(self.drifted_columns)

    @property
    def drift_share(self) -> float:
        return self.n_drifted / len(self.columns) if self.columns else 0.0

    @property
    def drift_detected(self) -> bool:
        """The gate: more than ``threshold`` of the feature columns drifted."""
        return self.drift_share > self.threshold

    @property
    def prediction_drift_detected(self) -> bool:
        return any(c.drifted for c in self.predictions)

    @property
    def prediction_drift_score(self) -> float | None:
        main = [c for c in self.predictions if c.column == PREDICTION_COLUMN] or self.predictions
        return main[0].score if main else None

    def gate(self) -> str:
        """The gate's verdict in one line."""
        share = f"{self.n_drifted} of {len(self.columns)} feature columns drifted (share {self.drift_share:.2f}"
        if self.drift_detected:
            return f"drift detected: {share} > {self.threshold:g})"
        return f"no drift: {share} <= {self.threshold:g})"

    def summary(self) -> str:
        """One paragraph for people: what drifted, how much, and what it means."""
        model = f"Model {self.model_name} version {self.model_version}" if self.model_name else "The model"
        parts = [
            f"{model}: {self.current_rows:,} new rows compared with {self.reference_rows:,} training rows;",
            f"{self.gate()}.",
        ]
        if self.drifted_columns:
            details = ", ".join(
                f"{c.column} ({c.method} {_fmt(c.score)}, threshold {_fmt(c.threshold)})"
                for c in self.columns
                if c.drifted
            )
            parts.append(f"Drifted columns: {details}.")
        else:
            parts.append("No feature column drifted.")
        if self.predictions:
            verdict = "drifted" if self.prediction_drift_detected else "did not drift"
            scored = ", ".join(f"{c.column} {c.method} {_fmt(c.score)}" for c in self.predictions)
            parts.append(f"The predictions {verdict} ({scored}).")
        if self.drift_detected:
            parts.append(
                "The model sees data unlike its training data: check the source of the batch, and retrain "
                "on recent data if the change is real."
            )
        return " ".join(parts)

    def metrics(self) -> dict[str, float]:
        """Numbers for MLflow and ZenML: the gate, then one score per column (names made metric-safe)."""
        values: dict[str, float] = {
            "drift_share": self.drift_share,
            "drift_detected": float(self.drift_detected),
            "drifted_columns": float(self.n_drifted),
            "drift_threshold": self.threshold,
            "prediction_drift_detected": float(self.prediction_drift_detected),
            "reference_rows": float(self.reference_rows),
            "current_rows": float(self.current_rows),
        }
        if self.prediction_drift_score is not None:
            values["prediction_drift_score"] = self.prediction_drift_score
        for column in [*self.columns, *self.predictions]:
            if math.isfinite(column.score):
                values[f"drift_score.{metric_name(column.column)}"] = column.score
        for key, value in self.data_summary.items():
            values[f"data_{key}"] = value
        return values

    def to_dict(self) -> dict[str, Any]:
        """Everything but the HTML, JSON-ready."""
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "timestamp": self.timestamp,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "threshold": self.threshold,
            "drift_share": self.drift_share,
            "drift_detected": self.drift_detected,
            "drifted_columns": self.drifted_columns,
            "prediction_drift_detected": self.prediction_drift_detected,
            "prediction_drift_score": self.prediction_drift_score,
            "gate": self.gate(),
            "summary": self.summary(),
            "columns": [asdict(c) for c in self.columns],
            "predictions": [asdict(c) for c in self.predictions],
            "data_summary": dict(self.data_summary),
        }


def metric_name(column: str) -> str:
    """A column name as MLflow accepts it in a metric key."""
    return "".join(ch if ch.isalnum() or ch in "_-. /" else "_" for ch in column)


def _fmt(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "n/a"


# --------------------------------------------------------------------------- computing drift
def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int = 0) -> pd.DataFrame:
    """At most ``max_rows`` rows, a seeded random sample when there are more (keeps drift runs time-bounded)."""
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed)


def prediction_kinds(schema: DatasetSchema, columns: list[str]) -> dict[str, str]:
    """The model-output columns to test, with their kind: the prediction (a categorical label, or the
    numeric value of a regression) and, for a binary classifier, the positive class's probability."""
    kinds: dict[str, str] = {}
    if PREDICTION_COLUMN in columns:
        kinds[PREDICTION_COLUMN] = "numeric" if schema.task == "regression" else "categorical"
    positive = f"{PROBABILITY_PREFIX}{schema.positive_class}"
    if schema.task == "binary" and schema.positive_class is not None and positive in columns:
        kinds[positive] = "numeric"
    return kinds


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: DatasetSchema,
    config: MonitoringConfig,
    reference_predictions: pd.DataFrame | None = None,
    current_predictions: pd.DataFrame | None = None,
    model_name: str = "",
    model_version: str = "",
) -> DriftResult:
    """Drift of ``current`` against ``reference`` on the schema's feature columns (typed frames, as
    the data layer builds them), and of the model's outputs when both prediction frames are given
    (columns ``prediction`` and ``probability_<class>``, aligned with the rows of their frames)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.legacy.calculations.stattests.registry import StatTestNotFoundError
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    numeric = list(schema.numeric_features)
    categorical = list(schema.categorical_features)
    dates = list(schema.datetime_features)
    features = numeric + categorical
    for side, frame in (("reference", reference), ("new", current)):
        missing = [c for c in features + dates if c not in frame.columns]
        if missing:
            raise DataError(f"The {side} data lacks the model's feature column(s) {missing}; it cannot be compared.")
    if not len(current) or not len(reference):
        raise DataError("Drift needs rows on both sides: the reference or the new data is empty.")

    outputs: dict[str, str] = {}
    if reference_predictions is not None and current_predictions is not None:
        shared = [c for c in current_predictions.columns if c in reference_predictions.columns]
        outputs = prediction_kinds(schema, shared)
    ref = _typed(reference[features + dates], numeric, categorical, dates)
    cur = _typed(current[features + dates], numeric, categorical, dates)
    for name, kind in outputs.items():
        assert reference_predictions is not None and current_predictions is not None
        ref[name] = _as_kind(reference_predictions[name].reindex(ref.index), kind)
        cur[name] = _as_kind(current_predictions[name].reindex(cur.index), kind)
    ref = sample_rows(ref, config.reference_max_rows, config.seed)
    cur = sample_rows(cur, config.current_max_rows, config.seed)

    # Evidently refuses a column that is empty on one side: that column has changed completely.
    empty = [c for c in [*features, *outputs] if ref[c].isna().all() or cur[c].isna().all()]
    one_sided = [c for c in empty if not (ref[c].isna().all() and cur[c].isna().all())]
    tested_features = [c for c in features if c not in empty]
    tested_outputs = [c for c in outputs if c not in empty]
    definition = DataDefinition(
        numerical_columns=numeric + [c for c, kind in outputs.items() if kind == "numeric"],
        categorical_columns=categorical + [c for c, kind in outputs.items() if kind == "categorical"],
        datetime_columns=dates or None,
    )
    current_data = Dataset.from_pandas(cur.drop(columns=empty), data_definition=_without(definition, empty))
    reference_data = Dataset.from_pandas(ref.drop(columns=empty), data_definition=_without(definition, empty))

    def drift_items() -> list[Any]:
        items: list[Any] = []
        if tested_features:
            items.append(
                DataDriftPreset(
                    columns=tested_features,
                    drift_share=config.drift_share_threshold,
                    method=config.stattest,
                    threshold=config.stattest_threshold,
                )
            )
        items += [
            ValueDrift(column=c, method=config.stattest, threshold=config.stattest_threshold) for c in tested_outputs
        ]
        return items

    try:
        # Per-column verdicts come from Evidently's drift tests; the summary's own tests (row counts
        # equal to the reference's, ...) mean nothing for a batch, so the report shown has none.
        verdicts = Report(drift_items(), include_tests=True).run(current_data, reference_data)
        shown = Report([*drift_items(), DataSummaryPreset()]).run(current_data, reference_data)
    except StatTestNotFoundError as exc:
        raise ConfigError(f"monitoring.stattest: {exc}") from exc

    tests = verdicts.dict()
    scores = _value_drifts(tests["metrics"])
    flags = _test_flags(tests["tests"])
    kinds = {**{c: "numeric" for c in numeric}, **{c: "categorical" for c in categorical}, **outputs}

    def column_drift(column: str) -> ColumnDrift:
        if column in one_sided:
            return ColumnDrift(column, kinds[column], EMPTY_METHOD, 1.0, float("nan"), True)
        if column in empty:
            return ColumnDrift(column, kinds[column], EMPTY_METHOD, 0.0, float("nan"), False)
        method, threshold, score = scores[column]
        return ColumnDrift(column, kinds[column], method, score, threshold, flags[column])

    return DriftResult(
        model_name=model_name,
        model_version=str(model_version),
        threshold=config.drift_share_threshold,
        reference_rows=len(ref),
        current_rows=len(cur),
        columns=[column_drift(c) for c in features if c not in empty or c in one_sided],
        predictions=[column_drift(c) for c in outputs if c not in empty or c in one_sided],
        data_summary=_data_summary(shown.dict()["metrics"]),
        html=shown.get_html_str(as_iframe=False),
    )


def _typed(frame: pd.DataFrame, numeric: list[str], categorical: list[str], dates: list[str]) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        if column in numeric:
            out[column] = _as_kind(frame[column], "numeric")
        elif column in categorical:
            out[column] = _as_kind(frame[column], "categorical")
        elif column in dates:
            out[column] = pd.to_datetime(frame[column], errors="coerce", format="mixed")
    return out


def _as_kind(series: pd.Series, kind: str) -> pd.Series:
    if kind == "numeric":
        numbers = pd.to_numeric(series, errors="coerce").astype("float64")
        return numbers.where(np.isfinite(numbers), np.nan)
    values = series.astype(object)
    present = values.notna()
    text = pd.Series(None, index=series.index, dtype=object)
    text[present] = values[present].astype(str)
    return text


def _without(definition: Any, columns: list[str]) -> Any:
    if not columns:
        return definition
    from evidently import DataDefinition

    return DataDefinition(
        numerical_columns=[c for c in definition.numerical_columns or [] if c not in columns],
        categorical_columns=[c for c in definition.categorical_columns or [] if c not in columns],
        datetime_columns=definition.datetime_columns,
    )


def _value_drifts(metrics: list[dict[str, Any]]) -> dict[str, tuple[str, float, float]]:
    """column -> (method, threshold, score) of Evidently's ValueDrift results."""
    found: dict[str, tuple[str, float, float]] = {}
    for metric in metrics:
        config = metric.get("config") or {}
        if str(config.get("type", "")).endswith(":ValueDrift"):
            threshold = config.get("threshold")
            found[str(config["column"])] = (
                str(config.get("method") or "?"),
                float(threshold) if threshold is not None else float("nan"),
                float(metric["value"]),
            )
    return found


def _test_flags(tests: list[dict[str, Any]]) -> dict[str, bool]:
    """column -> drifted, from the status of Evidently's per-column drift tests."""
    flags: dict[str, bool] = {}
    for test in tests:
        params = (test.get("metric_config") or {}).get("params") or {}
        if str(params.get("type", "")).endswith(":ValueDrift"):
            status = getattr(test["status"], "value", test["status"])
            flags[str(params["column"])] = str(status).upper().endswith("FAIL")
    return flags


_SUMMARY_METRICS = {
    "RowCount()": "rows",
    "ColumnCount()": "columns",
    "DuplicatedRowCount()": "duplicated_rows",
    "EmptyRowsCount()": "empty_rows",
    "EmptyColumnsCount()": "empty_columns",
    "ConstantColumnsCount()": "constant_columns",
}


def _data_summary(metrics: list[dict[str, Any]]) -> dict[str, float]:
    """The dataset-level numbers of Evidently's DataSummaryPreset for the new data."""
    summary: dict[str, float] = {}
    for metric in metrics:
        name = str(metric.get("metric_name", ""))
        value = metric.get("value")
        if name in _SUMMARY_METRICS and isinstance(value, int | float):
            summary[_SUMMARY_METRICS[name]] = float(value)
        elif name == "DatasetMissingValueCount()" and isinstance(value, dict):
            summary["missing_values_share"] = float(value.get("share", 0.0))
    return summary


# --------------------------------------------------------------------------- Prometheus
def write_prometheus_textfile(result: DriftResult, path: str | Path, model_name: str) -> Path:
    """Write the gate's numbers as a node_exporter textfile-collector file (``*.prom``), atomically.

    Gauges, each labelled ``model``: ``tabular_drift_share``, ``tabular_drift_detected``,
    ``tabular_prediction_drift_detected``, ``tabular_drift_last_run_timestamp_seconds``, and
    ``tabular_drift_drifted_columns`` / ``tabular_prediction_drift_score``.
    """
    path = Path(path)
    if path.suffix != ".prom":
        raise ConfigError(
            f"Prometheus textfile '{path}' must end in .prom: node_exporter's textfile collector reads only *.prom."
        )
    gauges: list[tuple[str, str, float]] = [
        (
            "tabular_drift_share",
            "Share of the model's feature columns that drifted in the last batch.",
            result.drift_share,
        ),
        (
            "tabular_drift_detected",
            "1 when the share of drifted feature columns is above the configured threshold.",
            float(result.drift_detected),
        ),
        (
            "tabular_prediction_drift_detected",
            "1 when the model's predictions on the last batch drifted from those on its training rows.",
            float(result.prediction_drift_detected),
        ),
        (
            "tabular_drift_last_run_timestamp_seconds",
            "Unix time of the last drift monitoring run.",
            result.timestamp,
        ),
        (
            "tabular_drift_drifted_columns",
            "Number of feature columns that drifted in the last batch.",
            result.n_drifted,
        ),
    ]
    if result.prediction_drift_score is not None:
        gauges.append(
            (
                "tabular_prediction_drift_score",
                "Drift score of the predicted label (or value) in the last batch.",
                result.prediction_drift_score,
            )
        )
    label = _escape_label(model_name)
    lines: list[str] = []
    for name, help_text, value in gauges:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f'{name}{{model="{label}"}} {_number(value)}']
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target, then rename: the collector never reads a half-written file.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
