"""Feature pipeline: fitted on train only, robust to unseen categories and absent columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from tabular_mlops.config import FeatureConfig, SelectionConfig, SplitConfig
from tabular_mlops.data.schema import infer_schema
from tabular_mlops.data.splitting import split_frame
from tabular_mlops.errors import ConfigError
from tabular_mlops.features.matrices import fit_feature_set
from tabular_mlops.features.preprocessing import (
    DatetimeExpander,
    SchemaEnforcer,
    build_preprocessor,
    column_groups,
    feature_names,
)


def test_schema_enforcer_reorders_adds_and_coerces() -> None:
    enforcer = SchemaEnforcer(
        numeric_features=("a", "b"), categorical_features=("c",), boolean_features=("d",), datetime_features=("e",)
    ).fit(None)
    out = enforcer.transform(
        pd.DataFrame({"c": [1.0, None], "a": ["3.5", "oops"], "d": ["Yes", "n"], "e": ["2024-01-02", "x"], "z": [0, 0]})
    )
    assert list(out.columns) == ["a", "b", "c", "d", "e"]
    assert out["a"].tolist()[0] == 3.5 and np.isnan(out["a"].tolist()[1])
    assert out["b"].isna().all()
    assert out["c"].tolist() == ["1", None]
    assert out["d"].tolist() == ["true", "false"]
    assert out["e"].dt.year.tolist()[0] == 2024 and pd.isna(out["e"].tolist()[1])


def test_adult_pipeline_fits_on_train_only_and_survives_odd_input(adult_sample: pd.DataFrame) -> None:
    schema = infer_schema(adult_sample, "income", positive_class=">50K")
    splits = split_frame(adult_sample, "income", "binary", SplitConfig())
    preprocessor = build_preprocessor(schema, FeatureConfig())
    features = fit_feature_set(preprocessor, splits.train, splits.validation, schema)
    assert features.X_train.shape[0] == len(splits.train)
    assert sp.issparse(features.X_train)  # one-hot dominated: kept sparse
    scaler = preprocessor.named_steps["columns"].named_transformers_["numeric"].named_steps["scale"]
    assert scaler.n_samples_seen_ == len(splits.train)
    assert "onehot__workclass_Private" in features.feature_names
    odd = pd.DataFrame([{"age": 40, "workclass": "Astronaut", "native-country": "Atlantis"}])  # others absent
    row = preprocessor.transform(odd)
    assert row.shape == (1, features.n_features) and np.isfinite(row.toarray()).all()


def test_high_cardinality_gets_target_encoding_cross_fitted() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    shops = np.array([f"shop{i}" for i in range(150)])
    frame = pd.DataFrame({"shop": rng.choice(shops, n), "x": rng.normal(size=n)})
    rate = {s: rng.uniform(0.1, 0.9) for s in shops}
    frame["y"] = np.where(rng.uniform(size=n) < frame["shop"].map(rate), "yes", "no")
    schema = infer_schema(frame, "y")
    config = FeatureConfig(max_onehot_categories=20)
    groups = column_groups(schema, config)
    assert groups.target_encoded == ["shop"] and groups.onehot == []
    splits = split_frame(frame, "y", "binary", SplitConfig())
    preprocessor = build_preprocessor(schema, config)
    features = fit_feature_set(preprocessor, splits.train, splits.validation, schema)
    assert "target_encoded__shop" in features.feature_names
    encoded_train = np.asarray(features.X_train)[:, features.feature_names.index("target_encoded__shop")]
    refit = np.asarray(preprocessor.transform(splits.train))[:, features.feature_names.index("target_encoded__shop")]
    assert not np.allclose(encoded_train, refit)  # training rows got out-of-fold encodings
    unseen = preprocessor.transform(pd.DataFrame({"shop": ["brand-new-shop"], "x": [0.0]}))
    assert np.isfinite(np.asarray(unseen)).all()


def test_datetime_expansion_names_parts() -> None:
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-03-05 14:00", "2023-12-31 01:00"])})
    expander = DatetimeExpander(parts=("year", "month", "hour")).fit(frame)
    assert expander.transform(frame).tolist() == [[2024, 3, 14], [2023, 12, 1]]
    assert list(expander.get_feature_names_out()) == ["when_year", "when_month", "when_hour"]
    with pytest.raises(ValueError, match="Unknown datetime part"):
        DatetimeExpander(parts=("week",)).fit(frame)


@pytest.mark.parametrize("method", ["mutual_info", "model"])
def test_feature_selection_keeps_max_features(adult_sample: pd.DataFrame, method: str) -> None:
    schema = infer_schema(adult_sample, "income")
    config = FeatureConfig(selection=SelectionConfig(method=method, max_features=10))
    preprocessor = build_preprocessor(schema, config)
    preprocessor.fit(adult_sample, adult_sample["income"])
    names = feature_names(preprocessor)
    assert len(names) == 10


def test_selection_needs_max_features() -> None:
    with pytest.raises(ConfigError, match="needs max_features"):
        SelectionConfig(method="model")
