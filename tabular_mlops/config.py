"""Typed views of the YAML files under ``configs/``.

Two kinds of file exist:

* ``configs/datasets/<name>.yaml`` describes one dataset (where the CSV lives, the target, how
  missing values are written, what to call the model) and is read by :func:`load_dataset_config`.
* ``configs/<pipeline>.yaml`` are ZenML run configurations (``parameters:``, ``settings:``,
  ``steps:``); their ``parameters`` are turned into typed objects by :func:`training_config_from_dict`.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from tabular_mlops.errors import ConfigError

TASKS = ("binary", "multiclass", "regression")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file '{path}' does not exist.")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file '{path}' is not valid YAML: {exc}") from exc
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigError(f"Config file '{path}' must hold a mapping at its top level.")
    return content


def _check_keys(cls: type, data: dict[str, Any], where: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed keys are {sorted(known)}.")


def slugify(text: str) -> str:
    """Turn a file stem or column name into a registry-friendly model name."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()
    return slug or "model"


@dataclass(frozen=True)
class DatasetConfig:
    """Where a dataset lives and how to read it."""

    name: str
    path: str
    target: str
    model_name: str
    task: str | None = None
    positive_class: str | None = None
    na_values: tuple[str, ...] = ()
    use_default_na: bool = True
    delimiter: str = "auto"
    encoding: str = "auto"
    drop_columns: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    group_column: str | None = None
    time_column: str | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    gates: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    source: str = ""
    licence: str = ""

    def __post_init__(self) -> None:
        if self.task is not None and self.task not in TASKS:
            raise ConfigError(
                f"Dataset '{self.name}': task must be one of {list(TASKS)} or left out "
                f"to be inferred, got '{self.task}'."
            )
        if not self.target:
            raise ConfigError(f"Dataset '{self.name}': 'target' must name a column.")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["na_values"] = list(self.na_values)
        data["drop_columns"] = list(self.drop_columns)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "dataset config") -> DatasetConfig:
        _check_keys(cls, data, where)
        missing = [k for k in ("name", "path", "target") if not data.get(k)]
        if missing:
            raise ConfigError(f"{where}: missing required key(s) {missing}.")
        values = dict(data)
        values.setdefault("model_name", slugify(f"{values['name']}-{values['target']}"))
        values["na_values"] = tuple(str(v) for v in values.get("na_values") or ())
        values["drop_columns"] = tuple(str(v) for v in values.get("drop_columns") or ())
        values["columns"] = {str(k): str(v) for k, v in (values.get("columns") or {}).items()}
        values["validation"] = dict(values.get("validation") or {})
        values["gates"] = dict(values.get("gates") or {})
        _check_keys(ValidationConfig, values["validation"], f"{where}: 'validation'")
        if values.get("positive_class") is not None:
            values["positive_class"] = str(values["positive_class"])
        return cls(**values)

    @classmethod
    def for_csv(cls, path: str | Path, target: str, model_name: str | None = None) -> DatasetConfig:
        """A config for an arbitrary CSV given on the command line."""
        stem = Path(path).name.split(".")[0]
        return cls(
            name=stem,
            path=str(path),
            target=target,
            model_name=model_name or slugify(f"{stem}-{target}"),
        )


def load_dataset_config(path: str | Path, project_root: str | Path | None = None) -> DatasetConfig:
    """Load ``configs/datasets/<name>.yaml``; a relative ``path`` is relative to the project root."""
    data = read_yaml(path)
    config = DatasetConfig.from_dict(data, where=f"Config file '{path}'")
    expanded = os.path.expandvars(config.path)
    if "$" in expanded:
        raise ConfigError(f"Config file '{path}': path '{config.path}' uses an environment variable that is not set.")
    data_path = Path(expanded)
    if not data_path.is_absolute() and project_root is not None:
        data_path = Path(project_root) / data_path
    return DatasetConfig.from_dict({**config.to_dict(), "path": str(data_path)}, where=f"Config file '{path}'")


SPLIT_STRATEGIES = ("auto", "stratified", "random", "group", "time")


@dataclass(frozen=True)
class SplitConfig:
    """Train/validation/test ratios, the strategy and the seed that makes the split repeatable.

    ``auto`` is stratified for classification and random for regression; ``group`` keeps all rows
    of a group (the dataset's ``group_column``) in one split; ``time`` puts the latest rows (by the
    dataset's ``time_column``) in test and the ones before them in validation.
    """

    test_size: float = 0.15
    validation_size: float = 0.15
    seed: int = 42
    strategy: str = "auto"
    max_shared_rows_share: float = 0.5  # error when more test rows than this also appear in train

    def __post_init__(self) -> None:
        for name in ("test_size", "validation_size"):
            value = getattr(self, name)
            if not 0.0 < value < 0.5:
                raise ConfigError(f"split.{name} must lie strictly between 0 and 0.5, got {value}.")
        if self.strategy not in SPLIT_STRATEGIES:
            raise ConfigError(f"split.strategy must be one of {list(SPLIT_STRATEGIES)}, got '{self.strategy}'.")


@dataclass(frozen=True)
class ValidationConfig:
    """Thresholds of the data checks; ``configs/training.yaml`` sets defaults, a dataset may override."""

    max_missing_share: float = 0.9  # error: a feature column missing in more rows than this
    warn_missing_share: float = 0.3  # warning above this
    max_type_error_share: float = 0.001  # error above; at or below, unparseable values become missing
    leakage_threshold: float = 0.99  # error: one column alone reaches this ROC AUC / R2
    leakage_sample_rows: int = 5000
    min_rows: int = 20
    min_rows_per_class: int = 5


@dataclass(frozen=True)
class SelectionConfig:
    """Feature selection after encoding: drop near-constant columns, optionally keep the best k."""

    variance_threshold: float = 0.0
    method: str = "none"  # none | mutual_info | model
    max_features: int | None = None

    def __post_init__(self) -> None:
        if self.method not in ("none", "mutual_info", "model"):
            raise ConfigError(f"features.selection.method must be none, mutual_info or model, got '{self.method}'.")
        if self.method != "none" and not self.max_features:
            raise ConfigError(f"features.selection.method '{self.method}' needs max_features (how many to keep).")


@dataclass(frozen=True)
class FeatureConfig:
    """How columns become model inputs (see tabular_mlops/features/preprocessing.py)."""

    max_onehot_categories: int = 20  # more distinct values than this: target encoding instead of one-hot
    min_category_frequency: int = 10  # rarer categories are grouped as 'infrequent'
    scale_numeric: bool = True
    missing_indicators: bool = False
    datetime_parts: tuple[str, ...] = ("year", "month", "day", "dayofweek", "hour")
    selection: SelectionConfig = field(default_factory=SelectionConfig)


def feature_config_from_dict(data: dict[str, Any] | None) -> FeatureConfig:
    data = dict(data or {})
    _check_keys(FeatureConfig, data, "features")
    selection = dict(data.pop("selection", None) or {})
    _check_keys(SelectionConfig, selection, "features.selection")
    if "datetime_parts" in data:
        data["datetime_parts"] = tuple(data["datetime_parts"])
    return FeatureConfig(selection=SelectionConfig(**selection), **data)


def validation_config_from_dict(
    defaults: dict[str, Any] | None, overrides: dict[str, Any] | None = None
) -> ValidationConfig:
    merged = {**(defaults or {}), **(overrides or {})}
    _check_keys(ValidationConfig, merged, "validation")
    return ValidationConfig(**merged)


@dataclass(frozen=True)
class CandidateConfig:
    """One model family to try: its default parameters and the space Optuna searches.

    ``search_space`` maps a parameter to ``{low, high, log?, type?: int|float}`` or ``{choices: [...]}``.
    """

    family: str
    params: dict[str, Any] = field(default_factory=dict)
    search_space: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class HPOConfig:
    """The Optuna search: budgets, evaluation, parallelism and (optional) shared storage."""

    enabled: bool = True
    timeout_s: float = 60.0  # wall-clock budget of the search
    n_trials: int = 200  # trial budget (whichever runs out first ends the search)
    cv_folds: int | str = "auto"  # "auto": 5 folds up to cv_max_rows rows, else the validation split
    cv_max_rows: int = 20000
    early_stopping_rounds: int = 50
    pruning: bool = True  # stop trials whose running CV score is in the worst quarter
    parallel_trials: int = 1  # trials at once; model threads = cores / parallel_trials
    storage: str | None = None  # e.g. postgresql://127.0.0.1/optuna: shared by workers, resumable
    study_name: str | None = None
    heartbeat_s: int = 10  # RDB storage: a trial silent for 3 heartbeats (a killed worker) is failed and retried
    refit_iterations_scale: float = 1.15  # more data at refit: a few more boosting rounds / epochs
    log_target: str = "auto"  # regression: also try a log-transformed target (auto: when y >= 0 and skewed)
    top_families: int = 2  # after every family's defaults, search only the best k families (0 = all)
    ensemble: bool = True  # average the best model of several families when that scores better
    ensemble_min_gain: float = 0.0005  # ... by at least this much (relative for error metrics)

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.n_trials < 1:
            raise ConfigError("hpo.timeout_s must be > 0 and hpo.n_trials >= 1.")
        if not (self.cv_folds == "auto" or (isinstance(self.cv_folds, int) and self.cv_folds >= 1)):
            raise ConfigError(
                f"hpo.cv_folds must be 'auto' or an integer >= 1 (1 = validation split), got {self.cv_folds!r}."
            )
        if self.parallel_trials < 1:
            raise ConfigError("hpo.parallel_trials must be >= 1.")
        if self.log_target not in ("auto", "never", "always"):
            raise ConfigError(f"hpo.log_target must be auto, never or always, got {self.log_target!r}.")


@dataclass(frozen=True)
class TrainingConfig:
    """The ``parameters`` of ``configs/training.yaml``."""

    split: SplitConfig = field(default_factory=SplitConfig)
    candidates: tuple[CandidateConfig, ...] = (
        CandidateConfig("logistic_regression"),
        CandidateConfig("lightgbm"),
    )
    selection_metric: str = "auto"
    n_jobs: int = -1  # threads for the whole search: -1 = every core
    hpo: HPOConfig = field(default_factory=HPOConfig)

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": asdict(self.split),
            "candidates": [asdict(c) for c in self.candidates],
            "selection_metric": self.selection_metric,
            "n_jobs": self.n_jobs,
            "hpo": asdict(self.hpo),
        }

    @property
    def cores(self) -> int:
        return max(1, os.cpu_count() or 1) if self.n_jobs in (-1, 0, None) else max(1, int(self.n_jobs))

    @property
    def model_threads(self) -> int:
        """Threads per model so that parallel trials x threads = cores (no oversubscription)."""
        return max(1, self.cores // self.hpo.parallel_trials)


def training_config_from_dict(data: dict[str, Any] | None) -> TrainingConfig:
    """Build a :class:`TrainingConfig` from the ``parameters`` mapping of a pipeline YAML."""
    data = dict(data or {})
    _check_keys(TrainingConfig, data, "training parameters")
    split_data = data.pop("split", None) or {}
    _check_keys(SplitConfig, split_data, "training parameters 'split'")
    candidates_data = data.pop("candidates", None)
    candidates: tuple[CandidateConfig, ...]
    if candidates_data is None:
        candidates = TrainingConfig().candidates
    else:
        if not isinstance(candidates_data, list) or not candidates_data:
            raise ConfigError("training parameters 'candidates' must be a non-empty list.")
        items = []
        for i, item in enumerate(candidates_data):
            if isinstance(item, str):
                item = {"family": item}
            _check_keys(CandidateConfig, item, f"training parameters 'candidates[{i}]'")
            space = dict(item.get("search_space") or {})
            for name, spec in space.items():
                if not isinstance(spec, dict) or not ("choices" in spec or {"low", "high"} <= set(spec)):
                    raise ConfigError(
                        f"candidates[{i}] ({item['family']}): search_space.{name} needs low/high or choices."
                    )
            items.append(
                CandidateConfig(family=item["family"], params=dict(item.get("params") or {}), search_space=space)
            )
        candidates = tuple(items)
    hpo_data = dict(data.pop("hpo", None) or {})
    _check_keys(HPOConfig, hpo_data, "training parameters 'hpo'")
    return TrainingConfig(split=SplitConfig(**split_data), candidates=candidates, hpo=HPOConfig(**hpo_data), **data)


@dataclass(frozen=True)
class EvaluationConfig:
    """How the final model is judged and explained (``evaluation:`` in configs/training.yaml)."""

    threshold: str = "f1"  # binary: tune the decision threshold for f1 or cost on out-of-fold predictions; none
    cost_false_positive: float = 1.0
    cost_false_negative: float = 1.0
    bootstrap_resamples: int = 500  # for the confidence intervals of the headline metrics
    importance_rows: int = 2000  # test rows for the permutation importance of the input columns
    shap_rows: int = 500  # rows explained
    shap_background_rows: int = 100
    shap_time_budget_s: float = 30.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.threshold not in ("f1", "cost", "none"):
            raise ConfigError(f"evaluation.threshold must be f1, cost or none, got '{self.threshold}'.")


def evaluation_config_from_dict(data: dict[str, Any] | None) -> EvaluationConfig:
    data = dict(data or {})
    _check_keys(EvaluationConfig, data, "evaluation")
    return EvaluationConfig(**data)


@dataclass(frozen=True)
class BatchValidationConfig:
    """Checks of a batch of new rows against the model's training schema (``validation:`` in
    configs/batch_inference.yaml)."""

    max_type_error_share: float = 0.01  # error above; at or below, values that do not parse become missing

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_type_error_share < 1.0:
            raise ConfigError(f"validation.max_type_error_share must lie in [0, 1), got {self.max_type_error_share}.")


def batch_validation_config_from_dict(data: dict[str, Any] | None) -> BatchValidationConfig:
    data = dict(data or {})
    _check_keys(BatchValidationConfig, data, "validation")
    return BatchValidationConfig(**data)


@dataclass(frozen=True)
class MonitoringConfig:
    """Drift monitoring of a batch against the model's training rows (``monitoring:`` in
    configs/batch_inference.yaml)."""

    drift_share_threshold: float = 0.3  # the gate: drift when more than this share of feature columns drifted
    stattest: str | None = None  # Evidently drift method for every column (psi, ks, wasserstein, ...); None: auto
    stattest_threshold: float | None = None  # per-column threshold of that method; None: the method's default
    reference_max_rows: int = 20000  # training rows compared with (a seeded sample)
    current_max_rows: int = 50000  # new rows compared (a seeded sample; every row is still predicted)
    prometheus_textfile: str | None = "monitoring/drift-{model}.prom"  # node_exporter textfile; None: not written
    fail_on_drift: bool = False  # exit with code 3 when the gate finds drift (e.g. to trigger retraining)
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.drift_share_threshold < 1.0:
            raise ConfigError(f"monitoring.drift_share_threshold must lie in [0, 1), got {self.drift_share_threshold}.")
        if self.reference_max_rows < 10 or self.current_max_rows < 10:
            raise ConfigError("monitoring.reference_max_rows and monitoring.current_max_rows must be >= 10.")
        if self.stattest_threshold is not None and self.stattest_threshold <= 0:
            raise ConfigError(f"monitoring.stattest_threshold must be > 0, got {self.stattest_threshold}.")

    def textfile_path(self, model_name: str) -> str | None:
        """The Prometheus textfile for ``model_name`` (``{model}`` in the setting is replaced)."""
        if not self.prometheus_textfile:
            return None
        return self.prometheus_textfile.replace("{model}", model_name)


def monitoring_config_from_dict(data: dict[str, Any] | None) -> MonitoringConfig:
    data = dict(data or {})
    _check_keys(MonitoringConfig, data, "monitoring")
    return MonitoringConfig(**data)
