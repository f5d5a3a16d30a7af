"""Real MLflow (SQLite store in a temporary directory): log, register, find and load a model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from tabular_mlops.errors import ModelNotFoundError
from tabular_mlops.registry.mlflow_registry import (
    get_version,
    latest_version,
    log_model,
    model_metadata,
    register_model,
)
from tabular_mlops.serving.model import ServedModel
from tests.conftest import fit_model


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


def test_log_register_load_roundtrip(tracking: str, adult_sample: pd.DataFrame) -> None:
    model, schema = fit_model(adult_sample, "income", n_estimators=30)
    X = adult_sample[schema.feature_names]
    with mlflow.start_run():
        info = log_model(model, X, schema, metadata={"test_metrics": {"roc_auc": 0.9}})
    first = register_model(info.model_uri, "adult-registry-test", tags={"family": "lightgbm"})
    with mlflow.start_run():
        info2 = log_model(model, X, schema)
    second = register_model(info2.model_uri, "adult-registry-test")
    assert (first.version, second.version) == ("1", "2")
    assert latest_version("adult-registry-test").version == "2"
    assert get_version("adult-registry-test", 1).registry_uri == "models:/adult-registry-test/1"

    loaded = mlflow.sklearn.load_model("models:/adult-registry-test/1")
    pd.testing.assert_series_equal(
        pd.Series(loaded.predict(X.head(50))), pd.Series(model.predict(X.head(50))), check_names=False
    )
    metadata = model_metadata("models:/adult-registry-test/1")
    assert metadata["test_metrics"] == {"roc_auc": 0.9}
    served = ServedModel.from_mlflow("models:/adult-registry-test/1")
    assert (served.name, served.version) == ("adult-registry-test", "1")
    assert served.schema == schema
    pyfunc = mlflow.pyfunc.load_model("models:/adult-registry-test/1")
    assert list(pyfunc.predict(X.head(5))) == list(model.predict(X.head(5)))
    requirements = Path(mlflow.artifacts.download_artifacts("models:/adult-registry-test/1")) / "requirements.txt"
    pins = requirements.read_text()
    assert "lightgbm==" in pins and "scikit-learn==" in pins


def test_missing_model_and_version_are_clear(tracking: str) -> None:
    with pytest.raises(ModelNotFoundError, match="No registered model named 'ghost'"):
        latest_version("ghost")
    with pytest.raises(ModelNotFoundError, match="'ghost' has no version 3"):
        get_version("ghost", 3)


def test_pip_requirements_follow_what_the_model_holds(adult_sample: pd.DataFrame) -> None:
    from tabular_mlops.models.ensemble import FoldBag, WeightedEnsembleClassifier
    from tabular_mlops.models.mlp import TorchMLPClassifier
    from tabular_mlops.registry.mlflow_registry import model_packages, pip_requirements

    lightgbm_model, schema = fit_model(adult_sample, "income", n_estimators=10)
    assert model_packages(lightgbm_model) == {"lightgbm"}
    linear_model, _ = fit_model(adult_sample, "income", family="logistic_regression")
    assert model_packages(linear_model) == set()
    X = linear_model.named_steps["preprocess"].transform(adult_sample[schema.feature_names])
    y = adult_sample["income"].to_numpy()
    bag = FoldBag([TorchMLPClassifier(max_iter=2).fit(X, y)], "binary")
    ensemble = WeightedEnsembleClassifier([("mlp", bag), ("lgbm", lightgbm_model.named_steps["model"])], [1, 1])
    ensemble.fit(X, y)
    assert model_packages(ensemble) == {"lightgbm", "torch"}
    assert any(r.startswith("torch==") for r in pip_requirements(ensemble))
