"""What evaluation, SHAP and the model card add to a training run, step by step.

    python bench/evaluation_overhead.py [--dataset adult] [--budget 60]

Runs `python run.py train --dataset NAME --json` against a temporary ZenML store (your own store
is untouched) and reads each step's duration from that store. Side by side, in the same run and on
the same registered model and test rows: the evaluation a minimal template does (accuracy / R² from
`estimator.score`, as ZenML's E2E template's `model_evaluator`), against our full evaluation
(metrics with bootstrap intervals, plots, permutation importance), SHAP and the model card.
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

EXTRA_STEPS = ("evaluate_model", "explain_model", "promote_model", "write_model_card")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--budget", type=float, default=None, help="search budget in seconds (default: the YAML's)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-eval-")
    os.environ.update(
        {
            "ZENML_CONFIG_PATH": f"{tmp}/config",
            "ZENML_REPOSITORY_PATH": f"{tmp}/repo",
            "ZENML_ANALYTICS_OPT_IN": "false",
        }
    )
    run_py = [sys.executable, str(ROOT / "run.py")]
    subprocess.run([*run_py, "stacks", "--json"], cwd=ROOT, check=True, capture_output=True)
    command = [*run_py, "train", "--dataset", args.dataset, "--json"]
    if args.budget is not None:
        command += ["--budget", str(args.budget)]
    started = time.perf_counter()
    out = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    summary = json.loads(out.stdout.strip().splitlines()[-1])

    from zenml.client import Client

    run = Client().get_pipeline_run(summary["zenml_run_id"])
    durations = {
        name: (step.end_time - step.start_time).total_seconds()
        for name, step in run.steps.items()
        if step.start_time and step.end_time
    }
    total = (
        (run.end_time - run.start_time).total_seconds() if run.end_time and run.start_time else sum(durations.values())
    )

    minimal, full = compare_in_process(args.dataset, summary)

    print(f"\n{args.dataset}: `python run.py train` wall time {wall:.1f} s, pipeline run {total:.1f} s\n")
    print("| step | seconds |")
    print("|---|---|")
    for name, seconds in durations.items():
        marker = " (evaluation, SHAP, gates, card)" if name in EXTRA_STEPS else ""
        print(f"| {name}{marker} | {seconds:.1f} |")
    extra = sum(durations.get(name, 0.0) for name in EXTRA_STEPS)
    print(f"| **added by evaluation, SHAP, gates and model card** | **{extra:.1f}** |")
    print("\nSame model, same test rows, in one process:\n")
    print("| side | seconds | what it produces |")
    print("|---|---|---|")
    print(f"| minimal template evaluation (`estimator.score`) | {minimal:.2f} | one number |")
    for what, seconds in full.items():
        print(f"| ours: {what} | {seconds:.2f} | |")


def compare_in_process(dataset_name: str, summary: dict[str, object]) -> tuple[float, dict[str, float]]:
    """Time the minimal evaluation and each part of ours on the registered model."""
    import mlflow

    from stacks.registration import configure_mlflow_from_active_stack
    from tabular_mlops.config import (
        evaluation_config_from_dict,
        load_dataset_config,
        read_yaml,
        training_config_from_dict,
        validation_config_from_dict,
    )
    from tabular_mlops.data.prepare import prepare, read_dataset
    from tabular_mlops.data.splitting import split_frame
    from tabular_mlops.evaluation.explain import explain, shap_pngs
    from tabular_mlops.evaluation.report import evaluate_on_test

    configure_mlflow_from_active_stack()
    model = mlflow.sklearn.load_model(str(summary["model_uri"]))
    parameters = read_yaml(ROOT / "configs/training.yaml")["parameters"]
    dataset = load_dataset_config(ROOT / "configs/datasets" / f"{dataset_name}.yaml", project_root=ROOT)
    raw, ingestion = read_dataset(dataset)
    prepared = prepare(
        raw, dataset, validation_config_from_dict(parameters["validation"], dataset.validation), ingestion.to_dict()
    )
    schema = prepared.schema
    splits = split_frame(
        prepared.frame, schema.target, schema.task, training_config_from_dict(parameters["training"]).split
    )
    config = evaluation_config_from_dict(parameters.get("evaluation"))

    started = time.perf_counter()
    model.score(splits.test[schema.feature_names], splits.test[schema.target])
    minimal = time.perf_counter() - started

    full: dict[str, float] = {}
    started = time.perf_counter()
    evaluate_on_test(model, splits.test, schema, config)
    full["metrics, intervals, plots, permutation importance"] = time.perf_counter() - started
    started = time.perf_counter()
    explanation = explain(
        model,
        splits.train,
        schema,
        max_rows=config.shap_rows,
        background_rows=config.shap_background_rows,
        time_budget_s=config.shap_time_budget_s,
        seed=config.seed,
    )
    shap_pngs(explanation)
    full[f"SHAP ({explanation.method}, {len(explanation.values)} rows) and its plots"] = time.perf_counter() - started
    return minimal, full


if __name__ == "__main__":
    main()
