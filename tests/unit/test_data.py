from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabular_mlops.config import SplitConfig
from tabular_mlops.data.loading import file_sha256, load_csv, read_header
from tabular_mlops.data.schema import DatasetSchema, infer_schema, infer_task
from tabular_mlops.data.splitting import split_frame
from tabular_mlops.data.validation import normalise_target, validate_training_frame
from tabular_mlops.errors import DataError
from tests.conftest import shared_csv


def test_adult_question_marks_are_missing(adult_frame: pd.DataFrame) -> None:
    assert "?" not in set(adult_frame["workclass"].dropna())
    assert adult_frame["workclass"].isna().sum() > 0
    assert adult_frame["age"].dtype == np.float64


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv' does not exist"):
        load_csv(tmp_path / "nope.csv")


def test_empty_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv' is empty"):
        load_csv(path)


def test_header_only_is_named(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("a,b,c\n")
    with pytest.raises(DataError, match=r"header\.csv' has a header but no data rows"):
        load_csv(path)


def test_non_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("name,city\nJos\xe9,S\xe3o Paulo\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv' is not UTF-8"):
        load_csv(path)
    with pytest.raises(DataError, match=r"latin\.csv' is not UTF-8"):
        read_header(path)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory"):
        load_csv(tmp_path)


def test_file_hash_changes_with_content(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a,b\n1,2\n")
    first = file_sha256(path)
    path.write_text("a,b\n1,3\n")
    assert file_sha256(path) != first


@pytest.mark.parametrize(
    ("name", "target", "task"),
    [
        ("telco_churn.csv", "churn", "binary"),
        ("credit_scoring.csv", "Status", "binary"),
        ("hpc_jobs.csv", "class", "multiclass"),
        ("california_housing.csv", "MedHouseVal", "regression"),
        ("diamonds.csv", "price", "regression"),
    ],
)
def test_task_inferred_on_real_datasets(name: str, target: str, task: str) -> None:
    frame = load_csv(shared_csv(name))
    assert infer_task(frame[target]) == task


def test_integer_labels_are_classes_not_floats() -> None:
    frame = pd.DataFrame({"x": range(40), "y": [0.0, 1.0] * 20})
    out = normalise_target(frame, "y", infer_task(frame["y"]))
    assert set(out["y"]) == {"0", "1"}


def test_missing_target_column_lists_columns(adult_sample: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"'salary' is not in 'adult'.*'income'"):
        validate_training_frame(adult_sample, "salary", "binary", "adult")


def test_constant_target_rejected() -> None:
    frame = pd.DataFrame({"x": range(30), "y": ["a"] * 30})
    with pytest.raises(DataError, match=r"'y'.*single value 'a'"):
        validate_training_frame(frame, "y", "binary", "f.csv")


def test_all_null_target_rejected() -> None:
    frame = pd.DataFrame({"x": range(30), "y": [None] * 30})
    with pytest.raises(DataError, match=r"'y' in 'f\.csv' is empty in every row"):
        validate_training_frame(frame, "y", "binary", "f.csv")


def test_rare_class_rejected() -> None:
    frame = pd.DataFrame({"x": range(40), "y": ["a"] * 20 + ["b"] * 18 + ["c"] * 2})
    with pytest.raises(DataError, match=r"class\(es\) \['c'\]"):
        validate_training_frame(frame, "y", "multiclass", "f.csv")


def test_rows_without_target_are_dropped_with_warning() -> None:
    frame = pd.DataFrame({"x": range(40), "y": ["a", "b"] * 19 + [None, None]})
    result = validate_training_frame(frame, "y", "binary", "f.csv")
    assert result.dropped_rows == 2
    assert len(result.frame) == 38
    assert "Dropped 2 row(s)" in result.warnings[0]


def test_schema_roundtrip_and_fingerprint(adult_sample: pd.DataFrame) -> None:
    schema = infer_schema(adult_sample, "income", positive_class=">50K")
    assert schema.task == "binary"
    assert schema.classes == ("<=50K", ">50K")
    assert "age" in schema.numeric_features and "workclass" in schema.categorical_features
    again = DatasetSchema.from_dict(schema.to_dict())
    assert again == schema
    assert again.fingerprint() == schema.fingerprint()


def test_unknown_positive_class_rejected(adult_sample: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="positive_class 'rich'"):
        infer_schema(adult_sample, "income", positive_class="rich")


def test_split_is_stratified_disjoint_and_repeatable(adult_sample: pd.DataFrame) -> None:
    frame = adult_sample.assign(row_id=range(len(adult_sample)))
    config = SplitConfig(test_size=0.2, validation_size=0.2, seed=3)
    first = split_frame(frame, "income", "binary", config)
    second = split_frame(frame, "income", "binary", config)
    assert first.sizes() == {"train": 1800, "validation": 600, "test": 600}
    pd.testing.assert_frame_equal(first.test, second.test)
    ids = [set(part["row_id"]) for part in (first.train, first.validation, first.test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert len(ids[0] | ids[1] | ids[2]) == len(frame)
    overall = (frame["income"] == ">50K").mean()
    for part in (first.train, first.validation, first.test):
        assert abs((part["income"] == ">50K").mean() - overall) < 0.01
    other_seed = split_frame(frame, "income", "binary", SplitConfig(test_size=0.2, validation_size=0.2, seed=4))
    assert set(other_seed.test["row_id"]) != ids[2]
