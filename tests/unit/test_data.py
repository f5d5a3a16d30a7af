"""Ingestion, schema detection and validation on real files, including every bad-input case."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tabular_mlops.config import DatasetConfig, ValidationConfig
from tabular_mlops.data.ingestion import file_sha256, read_csv_text, read_header
from tabular_mlops.data.prepare import load_typed, prepare, read_dataset
from tabular_mlops.data.schema import DatasetSchema, detect_schema, infer_schema, infer_task
from tabular_mlops.data.validation import normalise_target
from tabular_mlops.errors import DataError
from tests.conftest import BUNDLED_ADULT, shared_csv, write_csv


def prepared(path: Path, target: str, **config: object):
    dataset = DatasetConfig.from_dict({"name": "t", "path": str(path), "target": target, **config})
    raw, ingestion = read_dataset(dataset)
    validation = ValidationConfig(**dict(config.get("validation", {})))  # type: ignore[arg-type]
    return prepare(raw, dataset, validation, ingestion.to_dict())


def table(rows: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "city": rng.choice(["Paris", "Lyon", "Nice"], rows),
            "income": rng.normal(3000, 500, rows).round(2),
            "label": rng.choice(["yes", "no"], rows),
        }
    )


# --------------------------------------------------------------------------- bad input, one case each
def test_empty_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "empty.csv", "")
    with pytest.raises(DataError, match=r"'.*empty\.csv' is empty"):
        read_csv_text(path)


def test_header_only(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "header.csv", "a,b,label\n")
    with pytest.raises(DataError, match=r"header\.csv' has a header but no data rows"):
        read_csv_text(path)


def test_missing_target_column(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    table().to_csv(path, index=False)
    with pytest.raises(DataError, match=r"Target column 'target' is not in '.*data\.csv'; columns are \['age'"):
        prepared(path, "target")


def test_target_all_null(tmp_path: Path) -> None:
    path = tmp_path / "nulltarget.csv"
    table().assign(label="").to_csv(path, index=False)
    with pytest.raises(DataError, match=r"Target column 'label' in '.*nulltarget\.csv' is empty in every row"):
        prepared(path, "label", task="binary")


def test_target_constant(tmp_path: Path) -> None:
    path = tmp_path / "constant.csv"
    table().assign(label="yes").to_csv(path, index=False)
    with pytest.raises(DataError, match=r"Target column 'label' in '.*constant\.csv' has the single value 'yes'"):
        prepared(path, "label", task="binary")


def test_single_class_after_dropping_missing_targets(tmp_path: Path) -> None:
    path = tmp_path / "oneclass.csv"
    frame = table()
    frame["label"] = ["yes" if i % 2 else "" for i in range(len(frame))]
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"'label' in '.*oneclass\.csv' has the single value 'yes'"):
        prepared(path, "label", task="binary")


def test_class_too_rare_to_split(tmp_path: Path) -> None:
    path = tmp_path / "rare.csv"
    frame = table()
    frame.loc[:2, "label"] = "maybe"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"'label' in '.*rare\.csv': class\(es\) \['maybe'\] have fewer than 5 rows"):
        prepared(path, "label", task="multiclass")


def test_wrong_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "semicolon.csv"
    table().to_csv(path, index=False, sep=";")
    with pytest.raises(DataError, match=r"semicolon\.csv' has a single column 'age;city;income;label'.*looks like ';'"):
        read_csv_text(path, delimiter=",")
    frame, report = read_csv_text(path)  # detected when left on auto
    assert report.delimiter == ";" and list(frame.columns) == ["age", "city", "income", "label"]


def test_non_utf8_bytes(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "latin.csv", "name,city,label\nJos\xe9,S\xe3o Paulo,yes\nAna,Lyon,no\n".encode("latin-1")
    )
    with pytest.raises(DataError, match=r"latin\.csv' is not valid utf-8 text .* at byte \d+"):
        read_csv_text(path, encoding="utf-8")
    frame, report = read_csv_text(path)  # auto: detected, read, and said so
    assert frame.loc[0, "name"] == "José" and report.encoding != "utf-8"
    assert "is not UTF-8" in report.warnings[0]


def test_duplicated_column_names(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dupes.csv", "a,b,a,label\n1,2,3,x\n")
    with pytest.raises(DataError, match=r"dupes\.csv' has duplicated column names \['a'\]"):
        read_csv_text(path)


def test_column_of_mixed_types(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    frame = table(200)
    frame["age"] = frame["age"].astype(str)
    frame.loc[[3, 50, 90], "age"] = ["forty", "n.a.", "??"]
    frame.to_csv(path, index=False)
    result = prepared(path, "label")
    [error] = result.report.errors
    assert error.column == "age" and error.check == "types"
    assert "Column 'age' is numeric but 3 value(s) (1.50%)" in error.message and "'forty'" in error.message


def test_too_many_nulls(tmp_path: Path) -> None:
    path = tmp_path / "holes.csv"
    frame = table(100)
    frame["income"] = [str(v) if i % 20 == 0 else "" for i, v in enumerate(frame["income"])]
    frame.to_csv(path, index=False)
    result = prepared(path, "label", validation={"max_missing_share": 0.9})
    [error] = result.report.errors
    assert error.column == "income" and "Column 'income' is 95.0% missing, above the limit of 90%" in error.message
    relaxed = prepared(path, "label", validation={"max_missing_share": 0.99})
    assert relaxed.report.passed


@pytest.mark.parametrize(
    ("payload", "what"),
    [
        (b"PK\x03\x04\x14\x00\x00\x00binary", "ZIP archive"),
        (b"PAR1\x15\x04\x15", "Parquet file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG image"),
        (b"\x00\x01\x02\x03garbage\x00", "binary data"),
        (b'[{"a": 1, "label": "x"}]', "JSON"),
    ],
)
def test_file_that_is_not_csv(tmp_path: Path, payload: bytes, what: str) -> None:
    path = write_csv(tmp_path / "data.csv", payload)
    with pytest.raises(DataError, match=rf"data\.csv' .*{what}"):
        read_csv_text(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv' does not exist"):
        read_csv_text(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_header(tmp_path)


# --------------------------------------------------------------------------- ingestion
def test_adult_question_marks_detected_as_missing() -> None:
    frame, report = read_csv_text(BUNDLED_ADULT)
    assert report.na_tokens["workclass"] == {"?": 2799}
    assert frame["workclass"].isna().sum() == 2799
    assert report.encoding == "utf-8" and report.delimiter == ","


def test_compressed_and_tab_separated(tmp_path: Path) -> None:
    path = tmp_path / "data.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        table().to_csv(handle, index=False, sep="\t")
    frame, report = read_csv_text(path)
    assert report.delimiter == "\t" and frame.shape == (60, 4)


def test_file_hash_changes_with_content(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "a,b\n1,2\n")
    first = file_sha256(path)
    write_csv(path, "a,b\n1,3\n")
    assert file_sha256(path) != first


# --------------------------------------------------------------------------- schema
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
def test_real_datasets_prepare_cleanly(name: str, target: str, task: str) -> None:
    result = load_typed(str(shared_csv(name)), target)
    assert result.schema.task == task
    assert result.report.passed, result.report.error_summary()
    assert all(c.is_feature for c in result.schema.columns)


def test_roles_detected_and_overridable(tmp_path: Path) -> None:
    n = 300
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "signup": pd.date_range("2021-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "vip": rng.choice(["Yes", "No"], n),
            "plan": rng.choice(["basic", "pro", "max"], n),
            "note": [f"customer wrote a long comment number {i} about the service" for i in range(n)],
            "country": ["FR"] * n,
            "spend": rng.gamma(2, 50, n).round(2),
            "label": rng.choice(["a", "b"], n),
        }
    )
    path = tmp_path / "roles.csv"
    frame.to_csv(path, index=False)
    schema = prepared(path, "label").schema
    roles = {c.name: c.role for c in schema.columns}
    assert roles == {
        "customer_id": "identifier",
        "signup": "datetime",
        "vip": "boolean",
        "plan": "categorical",
        "note": "text",
        "country": "constant",
        "spend": "numeric",
    }
    overridden = prepared(path, "label", columns={"plan": "ignore", "customer_id": "numeric"}).schema
    assert overridden.column("plan").role == "ignore" and overridden.column("customer_id").role == "numeric"
    assert overridden.column("plan").overridden


def test_unknown_role_override_is_named(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    table().to_csv(path, index=False)
    with pytest.raises(DataError, match=r"sets roles for column\(s\) \['nope'\]"):
        prepared(path, "label", columns={"nope": "numeric"})
    with pytest.raises(DataError, match=r"Unknown role\(s\) \{'city': 'colour'\}"):
        prepared(path, "label", columns={"city": "colour"})


def test_integer_labels_are_classes_not_floats() -> None:
    frame = pd.DataFrame({"x": range(40), "y": ["0.0", "1.0"] * 20})
    out = normalise_target(frame, "y", infer_task(frame["y"]))
    assert set(out["y"]) == {"0", "1"}


def test_schema_roundtrip_and_fingerprint(adult_sample: pd.DataFrame) -> None:
    schema = infer_schema(adult_sample, "income", positive_class=">50K")
    assert schema.task == "binary" and schema.classes == ("<=50K", ">50K")
    assert "age" in schema.numeric_features and "workclass" in schema.categorical_features
    again = DatasetSchema.from_dict(schema.to_dict())
    assert again == schema and again.fingerprint() == schema.fingerprint()


def test_unknown_positive_class_rejected(adult_sample: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="positive_class 'rich'"):
        detect_schema(adult_sample.astype(str), "income", positive_class="rich")


# --------------------------------------------------------------------------- validation report
def test_adult_report_has_statistics_and_passes() -> None:
    result = load_typed(str(BUNDLED_ADULT), "income")
    report = result.report
    assert report.passed
    stats = {s["column"]: s for s in report.column_stats}
    assert stats["workclass"]["missing_share"] == pytest.approx(2799 / 48842, abs=1e-4)
    assert stats["hours-per-week"]["outliers"] > 0 and len(stats["age"]["histogram"]["counts"]) == 12
    assert 0.5 < stats["relationship"]["single_feature_score"] < 0.9
    assert report.target_stats["class_counts"] == {"<=50K": 37155, ">50K": 11687}
    assert report.target_stats["duplicate_rows"] == 52
    metrics = report.metrics()
    assert (
        metrics["rows"] == 48842
        and metrics["errors"] == 0
        and metrics["minority_class_share"] == pytest.approx(0.239, abs=1e-3)
    )


def test_injected_leak_is_stopped_and_named(adult_sample: pd.DataFrame, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    leaky = adult_sample.copy()
    leaky["score_copy"] = (leaky["income"] == ">50K").astype(float) + rng.normal(0, 0.1, len(leaky))
    path = tmp_path / "leaky.csv"
    leaky.to_csv(path, index=False)
    report = prepared(path, "income").report
    [error] = report.errors
    assert error.check == "leakage" and error.column == "score_copy"
    assert "Column 'score_copy' alone predicts 'income' almost perfectly (ROC AUC" in error.message
    assert error.evidence["score"] > 0.99 and error.evidence["best_other"] < 0.9
    clean_path = tmp_path / "clean.csv"
    adult_sample.to_csv(clean_path, index=False)
    assert prepared(clean_path, "income").report.passed


def test_copy_of_target_is_named(tmp_path: Path) -> None:
    path = tmp_path / "copy.csv"
    table(200).assign(label_again=lambda f: f["label"]).to_csv(path, index=False)
    [error] = prepared(path, "label").report.errors
    assert error.column == "label_again" and "is a copy of the target 'label'" in error.message


def test_regression_leak_uses_r2(tmp_path: Path) -> None:
    frame = table(400)
    frame["income_x2"] = frame["income"] * 2 + 1
    path = tmp_path / "reg.csv"
    frame.to_csv(path, index=False)
    [error] = prepared(path, "income", task="regression").report.errors
    assert error.column == "income_x2" and "(R2 0.99" in error.message


def test_identifier_is_reported_and_excluded(tmp_path: Path) -> None:
    frame = table(200)
    frame.insert(0, "row_id", range(200))
    path = tmp_path / "ids.csv"
    frame.to_csv(path, index=False)
    result = prepared(path, "label")
    warning = next(f for f in result.report.warnings if f.column == "row_id")
    assert "looks like an identifier" in warning.message
    assert "row_id" not in result.schema.feature_names
