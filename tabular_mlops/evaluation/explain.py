"""SHAP explanations in feature names a person understands, within a time budget.

* tree models (LightGBM, XGBoost, random forest, and bags of their fold models): TreeExplainer,
  exact and fast, in the model's raw output (log-odds for classifiers);
* linear models: LinearExplainer against a sampled background;
* anything else (the MLP, ensembles mixing families): the model-agnostic permutation explainer
  on the predicted probability, with a sampled background and as many rows as the budget allows.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline

from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.evaluation.plots import to_png
from tabular_mlops.evaluation.threshold import ThresholdClassifier
from tabular_mlops.features.preprocessing import to_dense
from tabular_mlops.models.ensemble import FoldBag
from tabular_mlops.models.zoo import EncodedLabelClassifier

TREE_MODULES = ("lightgbm", "xgboost", "sklearn.ensemble._forest")


@dataclass
class Explanation:
    """SHAP values of a sample of rows, for one output of the model."""

    values: np.ndarray  # (rows, features)
    data: np.ndarray  # the encoded rows that were explained
    feature_names: list[str]
    method: str
    output: str  # what the values add up to, in words
    seconds: float

    def mean_abs(self) -> dict[str, float]:
        means = np.abs(self.values).mean(axis=0)
        return {
            name: float(v) for name, v in sorted(zip(self.feature_names, means, strict=True), key=lambda kv: -kv[1])
        }

    def top_features(self, n: int = 10) -> list[tuple[str, float]]:
        return list(self.mean_abs().items())[:n]


def readable_names(names: list[str], schema: DatasetSchema) -> list[str]:
    """'onehot__workclass_Private' -> 'workclass=Private', 'numeric__age' -> 'age', ..."""
    columns = sorted(schema.feature_names, key=len, reverse=True)
    readable = []
    for name in names:
        prefix, _, rest = name.partition("__")
        if not rest:
            readable.append(name)
            continue
        if prefix in ("onehot", "boolean"):
            column = next((c for c in columns if rest.startswith(c + "_")), None)
            if column is not None:
                value = rest[len(column) + 1 :]
                value = "(rare)" if value == "infrequent_sklearn" else value
                readable.append(f"{column}={value}")
                continue
        if prefix == "target_encoded":
            readable.append(f"{rest} (target-encoded)")
            continue
        readable.append(rest)
    return readable


def _unwrap(estimator: Any) -> tuple[Any, str]:
    """The estimator SHAP should look at, and a note on the output it explains."""
    note = ""
    while True:
        if isinstance(estimator, ThresholdClassifier | EncodedLabelClassifier):
            estimator = estimator.estimator_
        elif isinstance(estimator, TransformedTargetRegressor):
            estimator, note = estimator.regressor_, "log1p of the target"
        else:
            return estimator, note


def _is_tree(estimator: Any) -> bool:
    return type(estimator).__module__.startswith(TREE_MODULES)


def _tree_input(model: Any, native: Any, dense: np.ndarray) -> Any:
    """XGBoost trained on a sparse matrix reads absent entries as missing, not zero: give it the same
    sparse matrix; other tree libraries read zeros either way and take the dense copy."""
    return native if type(model).__module__.startswith("xgboost") and sp.issparse(native) else dense


def _pick(values: Any, class_index: int, n_features: int) -> np.ndarray:
    """SHAP's per-class outputs (a list, or a trailing class axis) reduced to one class."""
    if isinstance(values, list):
        return np.asarray(values[class_index if len(values) > 1 else 0])
    array = np.asarray(values)
    if array.ndim == 3:
        return array[:, :, class_index] if array.shape[2] > 1 else array[:, :, 0]
    return array


def explain(
    model: Pipeline,
    frame: pd.DataFrame,
    schema: DatasetSchema,
    max_rows: int = 500,
    background_rows: int = 100,
    time_budget_s: float = 30.0,
    seed: int = 0,
) -> Explanation:
    """Explain ``model`` (preprocess -> estimator) on a sample of ``frame``'s rows."""
    import shap

    started = time.monotonic()
    preprocess, estimator = model.named_steps["preprocess"], model.named_steps["model"]
    sample = frame.sample(n=min(max_rows, len(frame)), random_state=seed)
    background_frame = frame.sample(n=min(background_rows, len(frame)), random_state=seed + 1)
    native = preprocess.transform(sample[schema.feature_names])
    X = to_dense(native)
    background = to_dense(preprocess.transform(background_frame[schema.feature_names]))
    names = readable_names([str(n) for n in preprocess.get_feature_names_out()], schema)
    inner, note = _unwrap(estimator)
    classes = [str(c) for c in getattr(estimator, "classes_", [])]
    if schema.task == "binary":
        target_class = schema.positive_class or classes[-1]
    elif schema.task == "multiclass":
        target_class = str(pd.Series(frame[schema.target]).value_counts().index[0])
    else:
        target_class = ""
    class_index = classes.index(target_class) if target_class in classes else 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        members = inner.models_ if isinstance(inner, FoldBag) else [inner]
        members = [_unwrap(m)[0] for m in members]
        if all(_is_tree(m) for m in members):
            values = np.mean(
                [
                    _pick(
                        shap.TreeExplainer(m).shap_values(_tree_input(m, native, X), check_additivity=False),
                        class_index,
                        X.shape[1],
                    )
                    for m in members
                ],
                axis=0,
            )
            method = "tree"
            output = f"log-odds of '{target_class}'" if schema.task != "regression" else (note or "the prediction")
        elif type(inner).__module__.startswith("sklearn.linear_model"):
            values = _pick(shap.LinearExplainer(inner, background).shap_values(X), class_index, X.shape[1])
            method = "linear"
            output = f"log-odds of '{target_class}'" if schema.task != "regression" else (note or "the prediction")
        else:
            values, X = _permutation(estimator, X, background, schema, class_index, time_budget_s, started)
            method = "permutation"
            output = f"probability of '{target_class}'" if schema.task != "regression" else "the prediction"
    return Explanation(
        values=np.asarray(values, dtype=float),
        data=X,
        feature_names=names,
        method=method,
        output=output,
        seconds=time.monotonic() - started,
    )


def _permutation(
    estimator: Any,
    X: np.ndarray,
    background: np.ndarray,
    schema: DatasetSchema,
    class_index: int,
    time_budget_s: float,
    started: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Model-agnostic SHAP on as many of the rows as the time budget allows (at least 20)."""
    import shap

    def output(rows: np.ndarray) -> np.ndarray:
        if schema.task == "regression":
            return np.asarray(estimator.predict(rows), dtype=float)
        return np.asarray(estimator.predict_proba(rows))[:, class_index]

    evaluations = 2 * X.shape[1] + 1
    probe = time.monotonic()
    output(np.repeat(background, 4, axis=0))
    per_row = (time.monotonic() - probe) / (4 * len(background))
    left = max(1.0, time_budget_s - (time.monotonic() - started))
    affordable = int(left / max(per_row * evaluations * len(background), 1e-9))
    rows = X[: max(20, min(len(X), affordable))]
    explainer = shap.PermutationExplainer(output, shap.maskers.Independent(background, max_samples=len(background)))
    result = explainer(rows, max_evals=evaluations, silent=True)
    return np.asarray(result.values), rows


def shap_pngs(explanation: Explanation, top: int = 20) -> dict[str, bytes]:
    """Beeswarm (summary) and mean-|SHAP| bar plots."""
    import matplotlib.pyplot as plt
    import shap

    shown = shap.Explanation(values=explanation.values, data=explanation.data, feature_names=explanation.feature_names)
    images: dict[str, bytes] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plt.figure()
        shap.plots.beeswarm(shown, max_display=top, show=False)
        figure = plt.gcf()
        figure.suptitle(f"SHAP values ({explanation.method}), output: {explanation.output}", fontsize=10)
        images["shap_summary.png"] = to_png(figure)
        plt.figure()
        shap.plots.bar(shown, max_display=top, show=False)
        figure = plt.gcf()
        figure.suptitle(f"mean |SHAP| on {len(explanation.values)} rows ({explanation.output})", fontsize=10)
        images["shap_importance.png"] = to_png(figure)
    return images
