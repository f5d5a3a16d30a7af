import pandas as pd
import pytest

from tabular_mlops.config import SplitConfig
from tabular_mlops.data.splitting import shared_rows_report, split_frame
from tabular_mlops.errors import DataError


def test_stratified_split_is_disjoint_balanced_and_repeatable(adult_sample: pd.DataFrame) -> None:
    frame = adult_sample.assign(row_id=range(len(adult_sample)))
    config = SplitConfig(test_size=0.2, validation_size=0.2, seed=3)
    first = split_frame(frame, "income", "binary", config)
    second = split_frame(frame, "income", "binary", config)
    assert first.strategy == "stratified"
    assert first.sizes() == {"train": 1800, "validation": 600, "test": 600}
    pd.testing.assert_frame_equal(first.test, second.test)
    ids = [set(part["row_id"]) for part in (first.train, first.validation, first.test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    overall = (frame["income"] == ">50K").mean()
    for part in (first.train, first.validation, first.test):
        assert abs((part["income"] == ">50K").mean() - overall) < 0.01
    other = split_frame(frame, "income", "binary", SplitConfig(test_size=0.2, validation_size=0.2, seed=4))
    assert set(other.test["row_id"]) != ids[2]


def test_group_split_keeps_groups_together(adult_sample: pd.DataFrame) -> None:
    frame = adult_sample.assign(household=[i // 3 for i in range(len(adult_sample))])
    splits = split_frame(frame, "income", "binary", SplitConfig(), group_column="household")
    assert splits.strategy == "group"
    groups = [set(p["household"]) for p in (splits.train, splits.validation, splits.test)]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])


def test_time_split_puts_latest_rows_in_test(adult_sample: pd.DataFrame) -> None:
    frame = adult_sample.assign(when=pd.date_range("2020-01-01", periods=len(adult_sample), freq="h").astype(str))
    frame = frame.sample(frac=1.0, random_state=0)
    splits = split_frame(frame, "income", "binary", SplitConfig(), time_column="when")
    assert splits.strategy == "time"
    assert splits.train["when"].max() < splits.validation["when"].min()
    assert splits.validation["when"].max() < splits.test["when"].min()


def test_group_strategy_without_column_is_explained(adult_sample: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="needs `group_column:`"):
        split_frame(adult_sample, "income", "binary", SplitConfig(strategy="group"))


def test_shared_rows_between_train_and_test(adult_sample: pd.DataFrame) -> None:
    doubled = pd.concat([adult_sample, adult_sample], ignore_index=True)
    splits = split_frame(doubled, "income", "binary", SplitConfig())
    with pytest.raises(DataError, match=r"test rows \(\d+\.\d%\) also appear in the training split"):
        shared_rows_report(splits, list(adult_sample.columns), SplitConfig(max_shared_rows_share=0.2))
    report = shared_rows_report(splits, list(adult_sample.columns), SplitConfig(max_shared_rows_share=0.9))
    assert report["shared_rows_share"] > 0.5
