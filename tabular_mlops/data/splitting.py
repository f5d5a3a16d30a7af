"""Repeatable train / validation / test splits (stratified for classification)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from tabular_mlops.config import SplitConfig


@dataclass
class DataSplits:
    """Three disjoint parts of one frame. The test part is only for the final evaluation."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def split_frame(frame: pd.DataFrame, target: str, task: str, config: SplitConfig) -> DataSplits:
    """Split off the test part, then the validation part, with a fixed seed."""
    stratify = frame[target] if task != "regression" else None
    rest, test = train_test_split(frame, test_size=config.test_size, random_state=config.seed, stratify=stratify)
    validation_share = config.validation_size / (1.0 - config.test_size)
    stratify_rest = rest[target] if task != "regression" else None
    train, validation = train_test_split(
        rest, test_size=validation_share, random_state=config.seed, stratify=stratify_rest
    )
    return DataSplits(
        train=train.reset_index(drop=True),
        validation=validation.reset_index(drop=True),
        test=test.reset_index(drop=True),
    )
