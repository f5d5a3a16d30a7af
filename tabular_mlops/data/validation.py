"""Data validation: errors that stop a training run, warnings that do not, and the statistics behind them.

Checks (each finding names the column and gives the evidence):

* target: present, not empty, not constant, every class large enough to split;
* nulls: share of missing values per column against configurable thresholds;
* types: values that do not parse as their column's role (pandera, see ``coercion``);
* leakage: a column that alone predicts the target almost perfectly, a copy of the target,
  identifier columns; rows shared between train and test are checked after the split;
* statistics: per-column summary, distribution, cardinality, outliers, class balance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tabular_mlops.config import ValidationConfig
from tabular_mlops.data.coercion import TypeProblem
from tabular_mlops.data.leakage import single_feature_scores
from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.errors import DataError

HISTOGRAM_BINS = 12


@dataclass
class Finding:
    """One result of a check. ``severity`` is 'error' (stops the run), 'warning' or 'info'."""

    severity: str
    check: str
    message: str
    column: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class ValidationReport:
    """Everything validation found, ready for HTML, MLflow metrics and ZenML metadata."""

    source: str
    target: str
    task: str
    n_rows: int
    n_columns: int
    findings: list[Finding] = field(default_factory=list)
    column_stats: list[dict[str, Any]] = field(default_factory=list)
    target_stats: dict[str, Any] = field(default_factory=dict)
    ingestion: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def passed(self) -> bool:
        return not self.errors

    def metrics(self) -> dict[str, float]:
        """Numbers for MLflow and ZenML metadata (prefixed ``data_`` when logged)."""
        missing = [s["missing_share"] for s in self.column_stats]
        leak_scores = [
            s["single_feature_score"] for s in self.column_stats if s.get("single_feature_score") is not None
        ]
        values: dict[str, float] = {
            "rows": float(self.n_rows),
            "columns": float(self.n_columns),
            "features": float(sum(1 for s in self.column_stats if s["is_feature"])),
            "errors": float(len(self.errors)),
            "warnings": float(len(self.warnings)),
            "missing_share_mean": float(np.mean(missing)) if missing else 0.0,
            "missing_share_max": float(np.max(missing)) if missing else 0.0,
            "duplicate_rows": float(self.target_stats.get("duplicate_rows", 0)),
            "max_single_feature_score": float(max(leak_scores)) if leak_scores else 0.0,
        }
        if "minority_share" in self.target_stats:
            values["minority_class_share"] = float(self.target_stats["minority_share"])
        return values

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "task": self.task,
            "n_rows": self.n_rows,
            "n_columns": self.n_columns,
            "passed": self.passed,
            "findings": [asdict(f) for f in self.findings],
            "column_stats": self.column_stats,
            "target_stats": self.target_stats,
            "ingestion": self.ingestion,
            "metrics": self.metrics(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        return cls(
            source=data["source"],
            target=data["target"],
            task=data["task"],
            n_rows=int(data["n_rows"]),
            n_columns=int(data["n_columns"]),
            findings=[Finding(**f) for f in data.get("findings", [])],
            column_stats=list(data.get("column_stats", [])),
            target_stats=dict(data.get("target_stats", {})),
            ingestion=dict(data.get("ingestion", {})),
        )

    def error_summary(self) -> str:
        """One line naming every error, for exceptions and the CLI."""
        parts = [f.message for f in self.errors]
        return f"Data validation of '{self.source}' failed with {len(parts)} error(s): " + " | ".join(parts)


# --------------------------------------------------------------------------- target
def require_target(columns: list[str] | pd.Index, target: str, source: str) -> None:
    """Fail with the list of real columns when the target is not among them."""
    if target not in columns:
        raise DataError(
            f"Target column '{target}' is not in '{source}'; columns are {list(columns)}. "
            "Pass the right name with --target (or `target:` in the dataset config)."
        )


def normalise_target(frame: pd.DataFrame, target: str, task: str) -> pd.DataFrame:
    """Classification targets become strings ('1', not '1.0'); regression targets floats."""
    frame = frame.copy(deep=False)  # only the target column is replaced: share the others
    series = frame[target]
    numbers = pd.to_numeric(series, errors="coerce")
    if task == "regression":
        bad = series.notna() & numbers.isna()
        if bad.any():
            raise DataError(
                f"Target column '{target}' is treated as regression but holds non-numeric values such as "
                f"{series[bad].iloc[0]!r}; set task: binary or multiclass in the dataset config."
            )
        frame[target] = numbers.astype("float64")
        return frame
    present = series.notna()
    if present.any() and numbers[present].notna().all() and bool((numbers[present] % 1 == 0).all()):
        frame[target] = numbers.map(lambda v: str(int(v)), na_action="ignore").astype(object)
        return frame
    frame[target] = series.map(lambda v: str(v).strip(), na_action="ignore").astype(object)
    return frame


def check_target(frame: pd.DataFrame, schema: DatasetSchema, source: str, config: ValidationConfig) -> pd.DataFrame:
    """Fatal target problems raise at once; rows without a target are dropped (and reported)."""
    target = schema.target
    require_target(frame.columns, target, source)
    labels = frame[target]
    if labels.isna().all():
        raise DataError(f"Target column '{target}' in '{source}' is empty in every row.")
    if labels.isna().any():
        frame = frame.loc[labels.notna()].reset_index(drop=True)
    if frame[target].nunique() < 2:
        raise DataError(
            f"Target column '{target}' in '{source}' has the single value {frame[target].iloc[0]!r}: there is "
            "nothing to learn. Check the --target column."
        )
    if len(frame) < config.min_rows:
        raise DataError(f"'{source}' has only {len(frame)} rows with a target; at least {config.min_rows} are needed.")
    if schema.task != "regression":
        counts = frame[target].value_counts()
        rare = counts[counts < config.min_rows_per_class]
        if not rare.empty:
            raise DataError(
                f"Target column '{target}' in '{source}': class(es) {list(rare.index)} have fewer than "
                f"{config.min_rows_per_class} rows ({dict(rare)}), too few to split into train, validation and "
                "test. Merge or drop them."
            )
        if schema.task == "binary" and counts.size != 2:
            raise DataError(
                f"Target column '{target}' in '{source}' has {counts.size} classes but the task is binary; "
                "set task: multiclass in the dataset config."
            )
    return frame


# --------------------------------------------------------------------------- the checks
def validate_frame(
    typed: pd.DataFrame,
    schema: DatasetSchema,
    source: str,
    config: ValidationConfig,
    type_problems: list[TypeProblem] | None = None,
    ingestion: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Run every check; return the frame with target-less rows dropped, and the report."""
    n_before = len(typed)
    frame = check_target(typed, schema, source, config)
    report = ValidationReport(
        source=source,
        target=schema.target,
        task=schema.task,
        n_rows=len(frame),
        n_columns=typed.shape[1],
        ingestion=dict(ingestion or {}),
    )
    dropped = n_before - len(frame)
    if dropped:
        report.findings.append(
            Finding(
                "warning",
                "target",
                f"Dropped {dropped} row(s) whose target '{schema.target}' is missing.",
                schema.target,
                {"rows": dropped},
            )
        )
    for warning in report.ingestion.get("warnings", []):
        report.findings.append(Finding("warning", "ingestion", warning))
    _check_roles(schema, report)
    _check_nulls(frame, schema, config, report)
    _check_types(type_problems or [], config, report)
    scores = _check_leakage(frame, schema, config, report)
    report.column_stats = column_statistics(frame, schema, scores)
    report.target_stats = target_statistics(frame, schema)
    duplicates = int(report.target_stats.get("duplicate_rows", 0))
    if duplicates:
        report.findings.append(
            Finding(
                "info",
                "duplicates",
                f"{duplicates} row(s) are exact duplicates of another row.",
                None,
                {"rows": duplicates},
            )
        )
    return frame, report


def _check_roles(schema: DatasetSchema, report: ValidationReport) -> None:
    for column in schema.excluded_columns:
        if column.role == "ignore":
            continue
        what = {
            "identifier": "looks like an identifier",
            "text": "is free text",
            "constant": "is constant",
        }[column.role]
        report.findings.append(
            Finding(
                "warning",
                "leakage" if column.role == "identifier" else "roles",
                f"Column '{column.name}' {what} ({column.reason}) and is not used as a feature; "
                f"set its role in the dataset config (columns: {{{column.name}: categorical}}) to use it.",
                column.name,
                {"role": column.role, "reason": column.reason},
            )
        )
    if not schema.feature_columns:
        report.findings.append(
            Finding("error", "roles", "No column is usable as a feature (all are identifiers, text or constant).")
        )


def _check_nulls(
    frame: pd.DataFrame, schema: DatasetSchema, config: ValidationConfig, report: ValidationReport
) -> None:
    for column in schema.feature_columns:
        share = float(frame[column.name].isna().mean())
        if share > config.max_missing_share:
            report.findings.append(
                Finding(
                    "error",
                    "nulls",
                    f"Column '{column.name}' is {share:.1%} missing, above the limit of "
                    f"{config.max_missing_share:.0%}; drop it (drop_columns in the dataset config) or raise "
                    "validation.max_missing_share.",
                    column.name,
                    {"missing_share": round(share, 4), "limit": config.max_missing_share},
                )
            )
        elif share > config.warn_missing_share:
            report.findings.append(
                Finding(
                    "warning",
                    "nulls",
                    f"Column '{column.name}' is {share:.1%} missing; it will be imputed.",
                    column.name,
                    {"missing_share": round(share, 4)},
                )
            )


def _check_types(problems: list[TypeProblem], config: ValidationConfig, report: ValidationReport) -> None:
    for problem in problems:
        severity = "error" if problem.share > config.max_type_error_share else "warning"
        examples = ", ".join(repr(e) for e in problem.examples)
        consequence = (
            "fix them, add them to na_values, or declare the column's role in the dataset config "
            f"(columns: {{{problem.column}: categorical}})"
            if severity == "error"
            else "they are treated as missing"
        )
        report.findings.append(
            Finding(
                severity,
                "types",
                f"Column '{problem.column}' is {problem.expected} but {problem.count} value(s) ({problem.share:.2%}) "
                f"do not parse as such, e.g. {examples}; {consequence}.",
                problem.column,
                problem.to_dict(),
            )
        )


def _check_leakage(
    frame: pd.DataFrame, schema: DatasetSchema, config: ValidationConfig, report: ValidationReport
) -> dict[str, float]:
    candidates = [c.name for c in schema.columns if c.role not in ("constant", "ignore", "text")]
    scores, metric = single_feature_scores(frame, schema, candidates, config.leakage_sample_rows)
    for name, score in sorted(scores.items(), key=lambda kv: -kv[1]):
        if schema.task != "regression" and _is_relabelled_copy(frame[name], frame[schema.target]):
            report.findings.append(
                Finding(
                    "error",
                    "leakage",
                    f"Column '{name}' is a copy of the target '{schema.target}' (each of its values maps to exactly "
                    "one target value and back); drop it (drop_columns in the dataset config).",
                    name,
                    {"metric": metric, "score": round(score, 6)},
                )
            )
            continue
        if score >= config.leakage_threshold:
            others = [s for n, s in scores.items() if n != name]
            best_other = max(others) if others else float("nan")
            report.findings.append(
                Finding(
                    "error",
                    "leakage",
                    f"Column '{name}' alone predicts '{schema.target}' almost perfectly ({metric} {score:.4f} on "
                    f"{min(len(frame), config.leakage_sample_rows)} rows, 3-fold; the best other column reaches "
                    f"{best_other:.4f}): it is probably derived from the target. Drop it (drop_columns) or raise "
                    "validation.leakage_threshold if it is legitimate.",
                    name,
                    {"metric": metric, "score": round(score, 6), "best_other": round(best_other, 6)},
                )
            )
    return scores


def _is_relabelled_copy(feature: pd.Series, target: pd.Series) -> bool:
    """True when the column equals the target up to renaming its values (a one-to-one mapping)."""
    both = feature.notna() & target.notna()
    if both.mean() < 0.99:
        return False
    pairs = pd.DataFrame({"f": feature[both].astype(str), "t": target[both].astype(str)})
    n_feature, n_target = pairs["f"].nunique(), pairs["t"].nunique()
    return bool(n_feature == n_target and len(pairs.drop_duplicates()) == n_feature)


# --------------------------------------------------------------------------- statistics
def column_statistics(frame: pd.DataFrame, schema: DatasetSchema, scores: dict[str, float]) -> list[dict[str, Any]]:
    """Per-column summary: missing share, cardinality, distribution, outliers, predictive power."""
    stats = []
    for column in schema.columns:
        series = frame[column.name] if column.name in frame else pd.Series(dtype=object)
        entry: dict[str, Any] = {
            "column": column.name,
            "role": column.role,
            "is_feature": column.is_feature,
            "reason": column.reason,
            "missing_share": round(float(series.isna().mean()) if len(series) else 0.0, 6),
            "n_unique": int(series.nunique()),
            "single_feature_score": round(scores[column.name], 6) if column.name in scores else None,
        }
        present = series.dropna()
        if column.role == "numeric" and len(present):
            values = present.to_numpy(dtype=float)
            q1, median, q3 = np.percentile(values, [25, 50, 75])
            iqr = q3 - q1
            outliers = int(((values < q1 - 1.5 * iqr) | (values > q3 + 1.5 * iqr)).sum()) if iqr > 0 else 0
            counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
            entry.update(
                mean=float(values.mean()),
                std=float(values.std()),
                min=float(values.min()),
                p25=float(q1),
                median=float(median),
                p75=float(q3),
                max=float(values.max()),
                outliers=outliers,
                histogram={"counts": counts.tolist(), "edges": [float(e) for e in edges]},
            )
        elif column.role in ("categorical", "boolean", "identifier", "text") and len(present):
            top = present.astype(str).value_counts().head(8)
            entry["top_values"] = {str(k): int(v) for k, v in top.items()}
        elif column.role == "datetime" and len(present):
            entry.update(min=str(present.min()), max=str(present.max()))
        stats.append(entry)
    return stats


def target_statistics(frame: pd.DataFrame, schema: DatasetSchema) -> dict[str, Any]:
    """Class balance (classification) or distribution (regression), plus duplicate rows."""
    target = frame[schema.target]
    result: dict[str, Any] = {"duplicate_rows": int(frame.duplicated().sum())}
    if schema.task == "regression":
        values = target.to_numpy(dtype=float)
        counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
        result.update(
            mean=float(values.mean()),
            std=float(values.std()),
            min=float(values.min()),
            max=float(values.max()),
            histogram={"counts": counts.tolist(), "edges": [float(e) for e in edges]},
        )
    else:
        counts = target.value_counts()
        result["class_counts"] = {str(k): int(v) for k, v in counts.items()}
        result["minority_share"] = float(counts.min() / counts.sum())
    return result
