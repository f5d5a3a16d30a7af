"""Repeatable train / validation / test splits: stratified, random, by group, or by time."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from tabular_mlops.config import SplitConfig
from tabular_mlops.data.leakage import shared_rows
from tabular_mlops.errors import DataError


@dataclass
class DataSplits:
    """Three disjoint parts of one frame. The test part is only for the final evaluation."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    strategy: str = "stratified"

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def resolve_strategy(config: SplitConfig, task: str, group_column: str | None, time_column: str | None) -> str:
    if config.strategy != "auto":
        return config.strategy
    if time_column:
        return "time"
    if group_column:
        return "group"
    return "random" if task == "regression" else "stratified"


def split_frame(
    frame: pd.DataFrame,
    target: str,
    task: str,
    config: SplitConfig,
    group_column: str | None = None,
    time_column: str | None = None,
) -> DataSplits:
    """Split off the test part, then the validation part, with a fixed seed."""
    strategy = resolve_strategy(config, task, group_column, time_column)
    validation_share = config.validation_size / (1.0 - config.test_size)
    if strategy in ("stratified", "random"):
        stratified = strategy == "stratified" and task != "regression"
        rest, test = train_test_split(
            frame,
            test_size=config.test_size,
            random_state=config.seed,
            stratify=frame[target] if stratified else None,
        )
        train, validation = train_test_split(
            rest,
            test_size=validation_share,
            random_state=config.seed,
            stratify=rest[target] if stratified else None,
        )
    elif strategy == "group":
        column = _required_column(frame, group_column, "group_column", "group")
        rest, test = _group_split(frame, column, config.test_size, config.seed)
        train, validation = _group_split(rest, column, validation_share, config.seed)
    else:
        column = _required_column(frame, time_column, "time_column", "time")
        order = pd.to_datetime(frame[column], errors="coerce", format="mixed")
        if order.isna().all():
            order = pd.to_numeric(frame[column], errors="coerce")
        if order.isna().any():
            raise DataError(f"time_column '{column}' has {int(order.isna().sum())} missing or unparseable values.")
        ordered = frame.iloc[order.argsort(kind="stable")]
        n_test = round(len(frame) * config.test_size)
        n_validation = round(len(frame) * config.validation_size)
        train = ordered.iloc[: len(frame) - n_test - n_validation]
        validation = ordered.iloc[len(frame) - n_test - n_validation : len(frame) - n_test]
        test = ordered.iloc[len(frame) - n_test :]
    return DataSplits(
        train=train.reset_index(drop=True),
        validation=validation.reset_index(drop=True),
        test=test.reset_index(drop=True),
        strategy=strategy,
    )


def _required_column(frame: pd.DataFrame, column: str | None, key: str, strategy: str) -> str:
    if not column:
        raise DataError(f"split.strategy '{strategy}' needs `{key}:` in the dataset config.")
    if column not in frame.columns:
        raise DataError(f"{key} '{column}' is not a column of the data; columns are {list(frame.columns)}.")
    return column


def _group_split(frame: pd.DataFrame, column: str, share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    groups = frame[column].astype(str).fillna("__missing__")
    if groups.nunique() < 3:
        raise DataError(f"group_column '{column}' has {groups.nunique()} groups; a group split needs at least 3.")
    splitter = GroupShuffleSplit(n_splits=1, test_size=share, random_state=seed)
    keep, hold = next(splitter.split(frame, groups=groups))
    return frame.iloc[keep], frame.iloc[hold]


def shared_rows_report(splits: DataSplits, columns: list[str], config: SplitConfig) -> dict[str, float]:
    """Rows of the test split that also appear in train: an error above the configured share."""
    shared = shared_rows(splits.train, splits.test, columns)
    share = shared / max(len(splits.test), 1)
    if share > config.max_shared_rows_share:
        raise DataError(
            f"{shared} of {len(splits.test)} test rows ({share:.1%}) also appear in the training split, above "
            f"split.max_shared_rows_share = {config.max_shared_rows_share:.0%}: test scores would be inflated. "
            "Remove duplicate rows or split by group (group_column in the dataset config)."
        )
    return {"shared_rows": float(shared), "shared_rows_share": float(share)}
