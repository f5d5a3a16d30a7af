"""Model quality at a fixed time budget: our pipeline vs. FLAML AutoML vs. default LightGBM.

    pip install -e '.[bench]'
    python bench/quality.py [--budget 60] [--datasets adult telco_churn ...] [--n-jobs 2]

For each shared dataset (bench/datasets/*.yaml, files under SHARED_DATA_DIR): one fixed 80/20
hold-out (seed 42, stratified for classification). Every side trains on the same 80 % and is
scored once on the same 20 %:

* ours: the library the training pipeline runs (schema detection, validation, features, Optuna
  search over the families of configs/training.yaml, refit), with the search budget set so that
  the whole run takes about ``--budget`` seconds; the benchmark's hold-out stands in for the
  pipeline's own test split, so the 80 % is split into train and validation only;
* FLAML 2.7 ``AutoML`` with ``time_budget=--budget`` and the same ``n_jobs``, optimising the same
  metric (ROC AUC, accuracy or RMSE);
* default ``LGBMClassifier`` / ``LGBMRegressor`` on the raw columns (categories as pandas
  categoricals): the floor.

Each side runs in its own subprocess, one after the other. Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SHARED_DATA_DIR", str(ROOT.parent / "shared" / "data"))

DATASETS = ["adult", "telco_churn", "credit_scoring", "hpc_jobs", "california_housing", "diamonds"]
REFERENCES = {  # issue 4: published references the pipeline must reach
    "adult": ("roc_auc", 0.927),
    "telco_churn": ("roc_auc", 0.84),
    "credit_scoring": ("roc_auc", 0.83),
    "hpc_jobs": ("accuracy", 0.84),
    "california_housing": ("rmse", 0.44),
    "diamonds": ("r2", 0.98),
}


def load_split(name: str) -> tuple[Any, Any, Any, str]:
    """The dataset's raw text frame, split 80/20 (seed 42), plus its config and task."""
    from sklearn.model_selection import train_test_split

    from tabular_mlops.config import load_dataset_config
    from tabular_mlops.data.prepare import read_dataset
    from tabular_mlops.data.schema import infer_task
    from tabular_mlops.data.validation import normalise_target

    config = load_dataset_config(ROOT / "bench" / "datasets" / f"{name}.yaml", project_root=ROOT)
    raw, _ = read_dataset(config)
    task = config.task or infer_task(raw[config.target])
    raw = normalise_target(raw, config.target, task)
    raw = raw.loc[raw[config.target].notna()].reset_index(drop=True)
    train, test = train_test_split(
        raw, test_size=0.2, random_state=42, stratify=raw[config.target] if task != "regression" else None
    )
    return train.reset_index(drop=True), test.reset_index(drop=True), config, task


def score(
    task: str, y_true: Any, predictions: Any, probabilities: Any, classes: list[str], positive: str | None
) -> dict[str, float]:
    from tabular_mlops.evaluation.metrics import classification_metrics, regression_metrics

    if task == "regression":
        return regression_metrics(y_true, predictions)
    return classification_metrics(y_true, predictions, probabilities, classes, positive)


def typed_for_peers(frame: Any, target: str, task: str) -> tuple[Any, Any]:
    """Raw text -> numbers where the column is numeric, pandas categoricals elsewhere."""
    import pandas as pd

    X = frame.drop(columns=[target]).copy()
    for column in X.columns:
        numbers = pd.to_numeric(X[column], errors="coerce")
        if numbers.notna().sum() >= 0.95 * X[column].notna().sum():
            X[column] = numbers
        else:
            X[column] = X[column].astype("category")
    y = frame[target].astype(float) if task == "regression" else frame[target].astype(str)
    return X, y


def run_ours(name: str, budget: float, n_jobs: int) -> dict[str, Any]:
    from dataclasses import replace

    import numpy as np
    from sklearn.model_selection import train_test_split

    from tabular_mlops.config import (
        DatasetConfig,
        feature_config_from_dict,
        read_yaml,
        training_config_from_dict,
        validation_config_from_dict,
    )
    from tabular_mlops.data.prepare import prepare
    from tabular_mlops.features.matrices import fit_feature_set
    from tabular_mlops.features.preprocessing import build_preprocessor
    from tabular_mlops.models.training import train_and_select

    started = time.monotonic()
    train_raw, test_raw, dataset, task = load_split(name)
    parameters = read_yaml(ROOT / "configs" / "training.yaml")["parameters"]
    dataset = DatasetConfig.from_dict({**dataset.to_dict(), "task": task})
    prepared = prepare(train_raw, dataset, validation_config_from_dict(parameters["validation"], dataset.validation))
    schema = prepared.schema
    config = training_config_from_dict(parameters["training"])
    config = replace(config, n_jobs=n_jobs)
    # The benchmark's 20 % hold-out plays the part of the pipeline's test split, so the 80 % is
    # split into train and validation only (FLAML, too, trains on all of the 80 %).
    train, validation = train_test_split(
        prepared.frame,
        test_size=config.split.validation_size,
        random_state=config.split.seed,
        stratify=prepared.frame[schema.target] if task != "regression" else None,
    )
    preprocessor = build_preprocessor(schema, feature_config_from_dict(parameters["features"]), seed=config.split.seed)
    features = fit_feature_set(preprocessor, train, validation, schema)
    spent = time.monotonic() - started
    reserve = 0.12 * budget  # the refit on train + validation after the search
    search = max(5.0, budget - spent - reserve)
    config = replace(config, hpo=replace(config.hpo, timeout_s=search))
    result = train_and_select(features, preprocessor, schema, config)
    test_typed = prepare(test_raw, dataset, validation_config_from_dict(parameters["validation"])).frame
    X_test, y_test = test_typed[schema.feature_names], test_typed[schema.target]
    model = result.model
    probabilities = None if task == "regression" else model.predict_proba(X_test)
    classes = [] if task == "regression" else [str(c) for c in model.classes_]
    metrics = score(task, y_test, np.asarray(model.predict(X_test)), probabilities, classes, schema.positive_class)
    return {
        "metrics": metrics,
        "seconds": time.monotonic() - started,
        "detail": f"{result.best_family}, {len(result.tuning.trials) if result.tuning else 0} trials",
    }


def run_flaml(name: str, budget: float, n_jobs: int) -> dict[str, Any]:
    import numpy as np
    from flaml import AutoML

    started = time.monotonic()
    train_raw, test_raw, dataset, task = load_split(name)
    X_train, y_train = typed_for_peers(train_raw, dataset.target, task)
    X_test, y_test = typed_for_peers(test_raw, dataset.target, task)
    for column in X_train.columns:
        if str(X_train[column].dtype) == "category":
            categories = X_train[column].cat.categories
            X_test[column] = (
                X_test[column]
                .astype(str)
                .where(X_test[column].notna())
                .astype(__import__("pandas").CategoricalDtype(categories))
            )
    metric = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}[task]
    automl = AutoML()
    automl.fit(
        X_train,
        y_train,
        task="regression" if task == "regression" else "classification",
        metric=metric,
        time_budget=budget,
        n_jobs=n_jobs,
        seed=42,
        verbose=0,
    )
    probabilities = None if task == "regression" else automl.predict_proba(X_test)
    classes = [] if task == "regression" else [str(c) for c in automl.classes_]
    metrics = score(task, y_test, np.asarray(automl.predict(X_test)), probabilities, classes, dataset.positive_class)
    return {"metrics": metrics, "seconds": time.monotonic() - started, "detail": str(automl.best_estimator)}


def run_lightgbm(name: str, budget: float, n_jobs: int) -> dict[str, Any]:
    import numpy as np
    from lightgbm import LGBMClassifier, LGBMRegressor

    started = time.monotonic()
    train_raw, test_raw, dataset, task = load_split(name)
    X_train, y_train = typed_for_peers(train_raw, dataset.target, task)
    X_test, y_test = typed_for_peers(test_raw, dataset.target, task)
    for column in X_train.columns:
        if str(X_train[column].dtype) == "category":
            X_test[column] = X_test[column].astype(str).where(X_test[column].notna()).astype(X_train[column].dtype)
    model = (LGBMRegressor if task == "regression" else LGBMClassifier)(n_jobs=n_jobs, random_state=42, verbose=-1)
    model.fit(X_train, y_train)
    probabilities = None if task == "regression" else model.predict_proba(X_test)
    classes = [] if task == "regression" else [str(c) for c in model.classes_]
    metrics = score(task, y_test, np.asarray(model.predict(X_test)), probabilities, classes, dataset.positive_class)
    return {"metrics": metrics, "seconds": time.monotonic() - started, "detail": "defaults"}


SIDES = {"ours": run_ours, "flaml": run_flaml, "lightgbm": run_lightgbm}
HEADLINES = {
    "binary": ["roc_auc", "accuracy", "f1"],
    "multiclass": ["accuracy", "f1_macro"],
    "regression": ["rmse", "r2"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per side and dataset (default 60)")
    parser.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    parser.add_argument("--sides", nargs="+", default=list(SIDES), choices=list(SIDES))
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "DATASET"), help=argparse.SUPPRESS)
    parser.add_argument("--json-out", type=Path, help="also write every result as JSON")
    args = parser.parse_args()
    if args.child:
        side, name = args.child
        print(json.dumps(SIDES[side](name, args.budget, args.n_jobs)))
        return
    results: dict[str, dict[str, Any]] = {}
    for name in args.datasets:
        _, _, _, task = load_split(name)
        results[name] = {"task": task}
        for side in args.sides:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    side,
                    name,
                    "--budget",
                    str(args.budget),
                    "--n-jobs",
                    str(args.n_jobs),
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if out.returncode != 0:
                results[name][side] = {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
            else:
                results[name][side] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{name} {side}: {results[name][side]}", file=sys.stderr, flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))
    print(f"\nBudget {args.budget:.0f} s per side, n_jobs={args.n_jobs}, 80/20 hold-out (seed 42)\n")
    columns = ["dataset", "metric", "ours", "FLAML", "LightGBM defaults", "reference", "ours s", "FLAML s"]
    print("| " + " | ".join([*columns, "ours: best", "FLAML: best"]) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, row in results.items():
        task = row["task"]
        for metric in HEADLINES[task]:
            cells = []
            for side in ("ours", "flaml", "lightgbm"):
                value = row.get(side, {}).get("metrics", {}).get(metric)
                cells.append(f"{value:.4f}" if value is not None else row.get(side, {}).get("error", "-")[:40])
            reference = REFERENCES[name]
            ref = f"{'<=' if reference[0] == 'rmse' else '>='} {reference[1]}" if reference[0] == metric else ""
            ours_s = row.get("ours", {}).get("seconds")
            flaml_s = row.get("flaml", {}).get("seconds")
            print(
                f"| {name} | {metric} | {' | '.join(cells)} | {ref} | "
                f"{ours_s:.0f} | {flaml_s:.0f} | {row.get('ours', {}).get('detail', '')} | "
                f"{row.get('flaml', {}).get('detail', '')} |"
                if ours_s is not None and flaml_s is not None
                else f"| {name} | {metric} | {' | '.join(cells)} | {ref} | - | - | | |"
            )


if __name__ == "__main__":
    main()
