"""What orchestration and tracking cost: the training pipeline vs. the same work in a bare script.

    python bench/training_overhead.py [--dataset-config configs/datasets/adult.yaml] [--repeats 1]

Both sides read the same CSV, split it the same way and train the same candidates from
configs/training.yaml. The pipeline side runs `python run.py train --json` in a subprocess
against a temporary ZenML store (so the user's store is untouched), which includes interpreter
start-up and imports, as a user pays them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tabular_mlops.config import (  # noqa: E402
    feature_config_from_dict,
    load_dataset_config,
    read_yaml,
    training_config_from_dict,
    validation_config_from_dict,
)
from tabular_mlops.data.prepare import prepare, read_dataset  # noqa: E402
from tabular_mlops.data.splitting import split_frame  # noqa: E402
from tabular_mlops.evaluation.metrics import evaluate_estimator  # noqa: E402
from tabular_mlops.features.matrices import fit_feature_set  # noqa: E402
from tabular_mlops.features.preprocessing import build_preprocessor  # noqa: E402
from tabular_mlops.models.training import train_and_select  # noqa: E402


def bare(dataset_config: Path) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    dataset = load_dataset_config(dataset_config, project_root=ROOT)
    parameters = read_yaml(ROOT / "configs/training.yaml")["parameters"]
    raw, ingestion = read_dataset(dataset)
    prepared = prepare(raw, dataset, validation_config_from_dict(parameters["validation"]), ingestion.to_dict())
    schema = prepared.schema
    config = training_config_from_dict(parameters["training"])
    splits = split_frame(prepared.frame, schema.target, schema.task, config.split)
    preprocessor = build_preprocessor(schema, feature_config_from_dict(parameters["features"]))
    features = fit_feature_set(preprocessor, splits.train, splits.validation, schema)
    result = train_and_select(features, preprocessor, schema, config)
    metrics = evaluate_estimator(
        result.model, splits.test[schema.feature_names], splits.test[schema.target], schema.task, schema.positive_class
    )
    return time.perf_counter() - started, metrics


def pipeline(dataset_config: Path, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "train", "--dataset-config", str(dataset_config), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    elapsed = time.perf_counter() - started
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    return elapsed, {k.removeprefix("test_"): v for k, v in summary["metrics"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset-config", type=Path, default=ROOT / "configs/datasets/adult.yaml")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "ZENML_CONFIG_PATH": f"{tmp}/config",
            "ZENML_REPOSITORY_PATH": f"{tmp}/repo",
            "ZENML_ANALYTICS_OPT_IN": "false",
        }
        subprocess.run(
            [sys.executable, str(ROOT / "run.py"), "stacks", "--json"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        rows = []
        for i in range(args.repeats):
            bare_s, bare_m = bare(args.dataset_config)
            pipe_s, pipe_m = pipeline(args.dataset_config, env)
            rows.append((i, bare_s, pipe_s, bare_m, pipe_m))
    headline = "roc_auc" if "roc_auc" in rows[0][3] else ("accuracy" if "accuracy" in rows[0][3] else "rmse")
    print(f"\nTraining on {args.dataset_config.name}: bare library script vs. `python run.py train`\n")
    print(f"| run | bare script s | pipeline s | overhead s | bare {headline} | pipeline {headline} |")
    print("|---|---|---|---|---|---|")
    for i, bare_s, pipe_s, bare_m, pipe_m in rows:
        cells = [f"{i + 1}", f"{bare_s:.1f}", f"{pipe_s:.1f}", f"{pipe_s - bare_s:.1f}"]
        cells += [f"{bare_m[headline]:.4f}", f"{pipe_m[headline]:.4f}"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
