"""Batch inference on real Adult rows: input checks against the training schema, predictions, outputs,
and the training-row reference stored with a model in a real MLflow registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from tabular_mlops.config import BatchValidationConfig
from tabular_mlops.errors import DataError, ModelNotFoundError
from tabular_mlops.registry.mlflow_registry import (
    REFERENCE_ARTIFACT,
    RegisteredModel,
    load_reference_sample,
    log_model,
    log_reference_sample,
    register_model,
    resolve_version,
)
from tabular_mlops.serving.batch import (
    default_output_path,
    predict_outputs,
    read_batch,
    read_predictions,
    with_predictions,
    write_predictions,
)
from tests.conftest import BUNDLED_ADULT, fit_model


@pytest.fixture(scope="module")
def trained(adult_sample: pd.DataFrame) -> tuple[Any, Any]:
    return fit_model(adult_sample, "income", n_estimators=30)


@pytest.fixture(scope="module")
def adult_text() -> pd.DataFrame:
    """300 rows of the bundled CSV as text, the way a user's file holds them."""
    return pd.read_csv(BUNDLED_ADULT, dtype=str, keep_default_na=False, nrows=300)


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_rows_pass_through_with_predictions_and_probabilities(
    trained: tuple[Any, Any], adult_text: pd.DataFrame, tmp_path: Path
) -> None:
    model, schema = trained
    path = write(adult_text.assign(batch_id="b1"), tmp_path / "new.csv")  # target and an extra column included
    batch = read_batch(path, schema)
    assert batch.warnings == []
    assert list(batch.rows.columns) == [*adult_text.columns, "batch_id"] and len(batch.rows) == 300
    assert list(batch.features.columns) == schema.feature_names
    assert batch.features["age"].dtype == "float64"
    predictions = predict_outputs(model, schema, batch.features)
    assert list(predictions.columns) == ["prediction", "probability_<=50K", "probability_>50K"]
    assert set(predictions["prediction"]) <= {"<=50K", ">50K"}
    np.testing.assert_allclose(predictions.filter(like="probability_").sum(axis=1), 1.0, rtol=1e-6)
    out = write_predictions(with_predictions(batch.rows, predictions), default_output_path(path))
    assert out == tmp_path / "new.predictions.csv"
    written = pd.read_csv(out)
    assert len(written) == 300 and written["batch_id"].eq("b1").all() and "income" in written.columns
    assert list(written.columns[-3:]) == ["prediction", "probability_<=50K", "probability_>50K"]
    # a predictions file read back: its outputs are taken as they are (for `monitor`)
    again = read_batch(out, schema)
    outputs = read_predictions(again.rows, schema, out)
    assert list(outputs["prediction"]) == list(predictions["prediction"])
    assert outputs["probability_>50K"].dtype == "float64"
    # predicting a predictions file again replaces its outputs instead of repeating them
    assert list(with_predictions(again.rows, predictions).columns).count("prediction") == 1


def test_missing_feature_columns_are_named(trained: tuple[Any, Any], adult_text: pd.DataFrame, tmp_path: Path) -> None:
    _, schema = trained
    path = write(adult_text.drop(columns=["age", "occupation"]), tmp_path / "partial.csv")
    with pytest.raises(DataError, match=r"partial\.csv' lacks the feature column\(s\) \['age', 'occupation'\]"):
        read_batch(path, schema)


def test_text_in_a_numeric_column_is_named_with_examples(
    trained: tuple[Any, Any], adult_text: pd.DataFrame, tmp_path: Path
) -> None:
    _, schema = trained
    frame = adult_text.copy()
    frame.loc[:9, "hours-per-week"] = "forty"
    frame.loc[10:14, "hours-per-week"] = "full time"
    path = write(frame, tmp_path / "typed.csv")
    with pytest.raises(DataError) as error:
        read_batch(path, schema)
    message = str(error.value)
    assert "column 'hours-per-week' of '" in message and "typed.csv' has 15 value(s) (5.0%)" in message
    assert "not numbers" in message and "'forty'" in message and "'full time'" in message
    assert "max_type_error_share" in message
    # within the allowed share, bad values become missing with a warning
    batch = read_batch(path, schema, BatchValidationConfig(max_type_error_share=0.1))
    assert batch.features["hours-per-week"].isna().sum() == 15
    assert len(batch.warnings) == 1 and "'hours-per-week'" in batch.warnings[0]


def test_empty_and_header_only_files_are_refused(trained: tuple[Any, Any], tmp_path: Path) -> None:
    _, schema = trained
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv' is empty"):
        read_batch(empty, schema)
    header = tmp_path / "header.csv"
    header.write_text(",".join(schema.feature_names) + "\n")
    with pytest.raises(DataError, match=r"header\.csv' has a header but no data rows"):
        read_batch(header, schema)


def test_predictions_file_without_outputs_is_refused(trained: tuple[Any, Any], adult_text: pd.DataFrame) -> None:
    _, schema = trained
    with pytest.raises(DataError, match=r"has no 'prediction' column.*run\.py predict"):
        read_predictions(adult_text, schema, "plain.csv")
    bad = adult_text.assign(prediction="<=50K", **{"probability_>50K": "high"})
    with pytest.raises(DataError, match=r"Column 'probability_>50K' of 'p\.csv' holds 300 value\(s\) that are not"):
        read_predictions(bad, schema, "p.csv")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("new.csv", "new.predictions.csv"),
        ("new.csv.gz", "new.predictions.csv"),
        ("jan.2025.tsv", "jan.2025.predictions.csv"),
        ("rows", "rows.predictions.csv"),
    ],
)
def test_default_output_is_next_to_the_input(name: str, expected: str, tmp_path: Path) -> None:
    assert default_output_path(tmp_path / name) == tmp_path / expected


@pytest.fixture
def tracking(tmp_path: Path) -> Iterator[str]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("tests", artifact_location=(tmp_path / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    yield uri
    mlflow.set_tracking_uri("")
    mlflow.set_registry_uri("")


def test_reference_sample_is_stored_with_the_model_and_bounded(
    tracking: str, trained: tuple[Any, Any], adult_sample: pd.DataFrame
) -> None:
    model, schema = trained
    with mlflow.start_run():
        info = log_model(model, adult_sample[schema.feature_names], schema)
        assert log_reference_sample(adult_sample.assign(extra=1), schema, max_rows=1000) == 1000
    registered = register_model(info.model_uri, "adult-reference-test")
    reference = load_reference_sample(registered)
    assert len(reference) == 1000 and list(reference.columns) == [*schema.feature_names, "income"]
    pd.testing.assert_series_equal(reference["age"].describe(), reference["age"].astype("float64").describe())
    assert reference["workclass"].dropna().isin(set(adult_sample["workclass"].dropna())).all()

    with mlflow.start_run():
        info = log_model(model, adult_sample[schema.feature_names], schema)
    older = register_model(info.model_uri, "adult-reference-test")
    with pytest.raises(
        ModelNotFoundError, match=f"version 2 has no sample of its training rows.*'{REFERENCE_ARTIFACT}'"
    ):
        load_reference_sample(older)
    with pytest.raises(ModelNotFoundError, match="no MLflow run"):
        load_reference_sample(RegisteredModel("m", "1", "models:/m/1", None))


def test_version_resolution_says_what_exists(
    tracking: str, trained: tuple[Any, Any], adult_sample: pd.DataFrame
) -> None:
    model, schema = trained
    with pytest.raises(ModelNotFoundError, match="No registered model named 'ghost'"):
        resolve_version("ghost")
    with mlflow.start_run():
        info = log_model(model, adult_sample[schema.feature_names], schema)
    register_model(info.model_uri, "adult-resolve-test")
    assert resolve_version("adult-resolve-test", "1").version == "1"
    with pytest.raises(ModelNotFoundError, match=r"has no production version yet.*or pass --version"):
        resolve_version("adult-resolve-test")
    mlflow.MlflowClient().set_registered_model_alias("adult-resolve-test", "champion", "1")
    assert resolve_version("adult-resolve-test").version == "1"
