"""Command line of the project: train, deploy and serve tabular models on the active ZenML stack.

    python run.py                      # train on the default dataset, then deploy the model
    python run.py train --data my.csv --target label
    python run.py deploy               # serve the latest registered model via the stack's deployer
    python run.py serve                # the project's own FastAPI server on 127.0.0.1:8080
    python run.py stacks               # register stacks/local.yaml and make it active
    python run.py predict --data new.csv   # batch predictions + drift monitoring (production model)
    python run.py monitor --data new.predictions.csv   # drift of an existing predictions file

Every command takes --json (its last stdout line is then one JSON object) and --debug (full
tracebacks). Run `python run.py COMMAND --help` for the options of each command.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

PROJECT_ROOT = Path(__file__).resolve().parent
DEFAULT_DATASET = "adult"
TRAINING_CONFIG = PROJECT_ROOT / "configs" / "training.yaml"
DEPLOYMENT_CONFIG = PROJECT_ROOT / "configs" / "deployment.yaml"
SERVING_CONFIG = PROJECT_ROOT / "configs" / "serving.yaml"
BATCH_CONFIG = PROJECT_ROOT / "configs" / "batch_inference.yaml"
DRIFT_EXIT_CODE = 3  # `predict` / `monitor` with fail_on_drift: the gate found drift
DATASETS_DIR = PROJECT_ROOT / "configs" / "datasets"

# Before ZenML is imported: no analytics, plain tracebacks.
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("ZENML_ENABLE_RICH_TRACEBACK", "false")
os.environ.setdefault("AUTO_OPEN_DASHBOARD", "false")
# Model servers are started as subprocesses (`uvicorn ...`): make this interpreter's scripts findable
# even when the virtual environment is not activated.
_BIN_DIR = str(Path(sys.executable).parent)
if _BIN_DIR not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN_DIR + os.pathsep + os.environ.get("PATH", "")
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from tabular_mlops.config import DatasetConfig, load_dataset_config, read_yaml  # noqa: E402
from tabular_mlops.errors import ConfigError, TabularMLOpsError  # noqa: E402

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse


# --------------------------------------------------------------------------- dataset selection
def resolve_dataset(args: argparse.Namespace) -> DatasetConfig:
    """--data/--target beat --dataset-config beat --dataset (default: the bundled Adult data)."""
    if getattr(args, "data", None):
        if not args.target:
            raise ConfigError("--data needs --target: the name of the column to predict.")
        from tabular_mlops.data.ingestion import read_header
        from tabular_mlops.data.validation import require_target

        require_target(read_header(args.data), args.target, args.data)
        return DatasetConfig.for_csv(Path(args.data).resolve(), args.target, args.model_name)
    if getattr(args, "target", None):
        raise ConfigError("--target needs --data: the CSV file to train on.")
    path = Path(args.dataset_config) if getattr(args, "dataset_config", None) else DATASETS_DIR / f"{args.dataset}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in DATASETS_DIR.glob("*.yaml"))
        raise ConfigError(f"No dataset config '{path}'; available datasets: {available}.")
    config = load_dataset_config(path, project_root=PROJECT_ROOT)
    if getattr(args, "model_name", None):
        config = DatasetConfig.from_dict({**config.to_dict(), "model_name": args.model_name})
    return config


def example_record(config: DatasetConfig, model_uri: str) -> dict[str, Any]:
    """The first data row of the dataset, typed as the model's schema says: a realistic request."""
    import mlflow

    from stacks.registration import configure_mlflow_from_active_stack
    from tabular_mlops.data.prepare import read_dataset
    from tabular_mlops.data.schema import DatasetSchema

    configure_mlflow_from_active_stack()
    schema = DatasetSchema.from_dict((mlflow.models.get_model_info(model_uri).metadata or {})["schema"])
    raw, _ = read_dataset(config, nrows=1)
    row = raw.iloc[0]
    record: dict[str, Any] = {}
    for column in schema.feature_columns:
        text = row.get(column.name)
        if text is None:
            record[column.name] = None
        elif column.role == "numeric":
            number = float(text)
            record[column.name] = int(number) if number.is_integer() and math.isfinite(number) else number
        else:
            record[column.name] = text
    return record


# --------------------------------------------------------------------------- commands
def cmd_stacks(args: argparse.Namespace) -> dict[str, Any]:
    from stacks.registration import ensure_repository, register_stack, render_stack_file, stack_file

    if args.render:
        output = Path(args.render).resolve()
        name = render_stack_file(stack_file(args.stack), output)
        if not args.json:
            print(f"Wrote {output}; import it with: zenml stack import {name} -f {output}", flush=True)
            return {}
        return {"stack_name": name, "rendered": str(output)}
    ensure_repository(PROJECT_ROOT)
    name = register_stack(stack_file(args.stack), activate=not args.no_activate)
    return {"stack": name, "active": not args.no_activate}


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    from zenml import Model

    from pipelines import training_pipeline
    from tabular_mlops.config import (
        TASKS,
        evaluation_config_from_dict,
        feature_config_from_dict,
        training_config_from_dict,
        validation_config_from_dict,
    )
    from tabular_mlops.data.ingestion import file_sha256
    from tabular_mlops.registry.gates import merge_gates, parse_gates

    dataset = resolve_dataset(args)
    config_path = _with_overrides(Path(args.config), args)
    parameters = read_yaml(config_path).get("parameters", {})
    # Fail here, not inside a step, on a config typo.
    training_config_from_dict(parameters.get("training", {}))
    feature_config_from_dict(parameters.get("features"))
    validation_config_from_dict(parameters.get("validation"), dataset.validation)
    evaluation_config_from_dict(parameters.get("evaluation"))
    for task in TASKS:
        parse_gates(merge_gates(parameters.get("gates") or {}, dataset.gates), task)
    pipeline = training_pipeline.with_options(
        config_path=str(config_path),
        enable_cache=False if args.no_cache else None,
        model=Model(
            name=dataset.model_name,
            description=dataset.description or f"Predicts '{dataset.target}' from {Path(dataset.path).name}.",
            tags=[dataset.name],
        ),
    )
    run = _finished(pipeline(dataset=dataset.to_dict(), data_hash=file_sha256(dataset.path)))
    registration = _load_output(run, "register_model", "registration")
    gate_report = _load_output(run, "promote_model", "gate_report")
    summary = {
        "command": "train",
        "model_name": registration["model_name"],
        "model_version": registration["model_version"],
        "model_uri": registration["model_uri"],
        "stage": _zenml_stage(dataset.model_name, registration["zenml_model_version"]),
        "gates_passed": gate_report["passed"],
        "gates": gate_report["summary"],
        "family": registration["family"],
        "task": registration["task"],
        "metrics": {f"test_{k}": round(v, 6) for k, v in registration["test_metrics"].items()},
        "mlflow_run_id": registration["mlflow_run_id"],
        "mlflow_experiment_id": registration["mlflow_experiment_id"],
        "zenml_run_id": str(run.id),
        "zenml_run_name": run.name,
        "zenml_model_version": registration["zenml_model_version"],
        "dataset": dataset.name,
    }
    summary["_example"] = example_record(dataset, registration["model_uri"])
    return summary


def _with_overrides(config_path: Path, args: argparse.Namespace) -> Path:
    """The training YAML, or a temporary copy of it with --budget / --trials / --families applied."""
    if args.budget is None and not args.families and args.trials is None:
        return config_path
    import tempfile

    import yaml

    content = read_yaml(config_path)
    training = content.setdefault("parameters", {}).setdefault("training", {})
    if args.budget is not None:
        training.setdefault("hpo", {})["timeout_s"] = float(args.budget)
    if args.trials is not None:
        training.setdefault("hpo", {})["n_trials"] = int(args.trials)
    if args.families:
        wanted = [f.strip() for f in args.families.split(",") if f.strip()]
        known = {c["family"] for c in training.get("candidates", [])}
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise ConfigError(
                f"--families {unknown} are not candidates in {config_path}; candidates are {sorted(known)}."
            )
        training["candidates"] = [c for c in training["candidates"] if c["family"] in wanted]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="training-", delete=False) as handle:
        yaml.safe_dump(content, handle, sort_keys=False)
    return Path(handle.name)


def cmd_deploy(args: argparse.Namespace, model_name: str | None = None, version: str | None = None) -> dict[str, Any]:
    from pipelines import deployment_pipeline

    dataset = resolve_dataset(args)
    name = model_name or dataset.model_name
    version = version or args.version
    pipeline = deployment_pipeline.with_options(config_path=str(args.deploy_config))
    run = _finished(pipeline(model_name=name, model_version=str(version) if version else None))
    service = _load_output(run, "deploy_model", "deployment")
    # The MLflow deployer's config carries the registry version; the Seldon step's keeps it in extra_args.
    registry_version = getattr(service.config, "registry_model_version", None) or getattr(
        service.config, "extra_args", {}
    ).get("registry_model_version")
    deployed_version = str(registry_version or version or "")
    return {
        "command": "deploy",
        **_registry_facts(name, deployed_version),
        "endpoint_url": service.get_prediction_url(),
        "zenml_run_id": str(run.id),
        "zenml_run_name": run.name,
        "service_id": str(service.uuid),
        "_example": example_record(dataset, f"models:/{name}/{deployed_version}"),
    }


def cmd_run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, then serve the production version; without one yet, serve the new version to try it out."""
    from stacks.registration import configure_mlflow_from_active_stack
    from tabular_mlops.errors import ModelNotFoundError
    from tabular_mlops.registry.mlflow_registry import production_version

    trained = cmd_train(args)
    configure_mlflow_from_active_stack()
    try:
        version = production_version(trained["model_name"]).version
    except ModelNotFoundError:
        version = trained["model_version"]
        print(
            f"No production version of {trained['model_name']} yet: serving the new version {version} "
            f"(stage {trained['stage']}) to try out. Approve it with `python run.py promote --version {version} "
            '--approve --reason "..."`.',
            flush=True,
        )
    deployed = cmd_deploy(args, model_name=trained["model_name"], version=version)
    return {**trained, **{k: v for k, v in deployed.items() if k.startswith(("endpoint", "service"))}, "command": "run"}


def cmd_serve(args: argparse.Namespace) -> dict[str, Any]:
    import uvicorn

    from tabular_mlops.serving.app import ServingSettings, create_app
    from tabular_mlops.serving.model import ServedModel

    settings = ServingSettings.from_dict(read_yaml(args.serve_config))
    host = args.host or settings.host
    port = int(args.port or settings.port)
    if args.model_uri:
        app = create_app(ServedModel.from_mlflow(args.model_uri).compile(), settings)
    else:
        from stacks.registration import configure_mlflow_from_active_stack
        from tabular_mlops.registry.mlflow_registry import get_version

        configure_mlflow_from_active_stack()
        name = args.model_name or resolve_dataset(args).model_name
        if args.version:
            registered = get_version(name, args.version)
            model = ServedModel.from_mlflow(registered.registry_uri, name=registered.name, version=registered.version)
            app = create_app(model.compile(), settings)
        else:
            app = create_app(settings=settings, source=_production_source(name))
    model = app.state.holder.model
    summary = {
        "command": "serve",
        "model_name": model.name,
        "model_version": model.version,
        "stage": model.stage,
        "prediction_path": model.fast_path_note,
        "metrics": {f"test_{k}": v for k, v in model.metadata.get("test_metrics", {}).items()},
        "endpoint_url": f"http://{host}:{port}/predict",
        "_example": model.example_record(),
    }
    _print_summary(summary, args.json)
    log_level = "warning" if args.json else "info"
    if settings.workers > 1 and app.state.holder.source is not None:
        import mlflow

        # Several processes need an importable app; each loads the production model itself.
        os.environ.update(
            {
                "TABULAR_MLOPS_MODEL": model.name,
                "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri(),
                "TABULAR_MLOPS_SERVING_CONFIG": str(Path(args.serve_config).resolve()),
            }
        )
        uvicorn.run(
            "tabular_mlops.serving.asgi:app",
            host=host,
            port=port,
            workers=settings.workers,
            log_level=log_level,
            access_log=False,
        )
    else:
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
    return {}


def cmd_export(args: argparse.Namespace) -> dict[str, Any]:
    """Write a registered version as a self-contained bundle (model.joblib + bundle.json) for Seldon."""
    from stacks.registration import configure_mlflow_from_active_stack
    from tabular_mlops.registry.mlflow_registry import get_version, production_version
    from tabular_mlops.serving.bundle import export_bundle
    from tabular_mlops.serving.model import ServedModel

    configure_mlflow_from_active_stack()
    name = args.model_name or resolve_dataset(args).model_name
    registered = get_version(name, args.version) if args.version else production_version(name)
    model = ServedModel.from_mlflow(registered.registry_uri, name=registered.name, version=registered.version)
    directory = export_bundle(model, args.output)
    summary = {
        "command": "export",
        "model_name": registered.name,
        "model_version": registered.version,
        "bundle": str(directory),
        "seldon_command": f"PYTHONPATH=deploy/seldon:. MODEL_DIR={directory} .venv-seldon/bin/seldon-core-microservice "
        "TabularSeldonModel --service-type MODEL --http-port 9000 --metrics-port 6000",
    }
    return summary


def _production_source(name: str) -> Any:
    """The registry alias of the production model, with a clear error when there is none yet."""
    from tabular_mlops.registry.mlflow_registry import production_version
    from tabular_mlops.registry.promotion import ALIASES
    from tabular_mlops.serving.app import ModelSource

    production_version(name)  # raises ModelNotFoundError naming the next step when nothing is in production
    return ModelSource(name, alias=ALIASES["production"], stage="production")


def cmd_predict(args: argparse.Namespace) -> dict[str, Any]:
    """Batch predictions for a CSV, then drift monitoring of the batch against the training rows."""
    from pipelines import batch_inference_pipeline

    output = str(Path(args.out).resolve()) if args.out else None
    return _run_batch(args, batch_inference_pipeline, "predict", output_path=output)


def cmd_monitor(args: argparse.Namespace) -> dict[str, Any]:
    """Drift monitoring of an existing predictions file (no re-prediction)."""
    from pipelines import drift_monitoring_pipeline

    return _run_batch(args, drift_monitoring_pipeline, "monitor")


def _run_batch(args: argparse.Namespace, pipeline: Any, command: str, **inputs: Any) -> dict[str, Any]:
    from stacks.registration import configure_mlflow_from_active_stack
    from tabular_mlops.config import batch_validation_config_from_dict, monitoring_config_from_dict
    from tabular_mlops.data.ingestion import read_header
    from tabular_mlops.registry.mlflow_registry import resolve_version

    if args.model_name:
        name = args.model_name
    else:
        name = resolve_dataset(
            argparse.Namespace(dataset=args.dataset, dataset_config=args.dataset_config, model_name=None)
        ).model_name
    config_path = _batch_config(args)
    parameters = read_yaml(config_path).get("parameters", {})
    # Fail here, not inside a step, on a config typo, an unreadable file or a missing model.
    batch_validation_config_from_dict(parameters.get("validation"))
    monitoring = monitoring_config_from_dict(parameters.get("monitoring"))
    read_header(args.data)
    configure_mlflow_from_active_stack()
    registered = resolve_version(name, args.version)
    run = _finished(
        pipeline.with_options(config_path=str(config_path))(
            data_path=str(Path(args.data).resolve()), model_name=name, model_version=registered.version, **inputs
        )
    )
    drift = _load_output(run, "monitor_drift", "drift_summary")
    facts = _registry_facts(name, registered.version)
    summary: dict[str, Any] = {
        "command": command,
        **{k: v for k, v in facts.items() if k not in ("metrics", "mlflow_run_id")},
        "data_path": str(Path(args.data).resolve()),
    }
    if command == "predict":
        predicted = _load_output(run, "predict_batch", "prediction_summary")
        summary |= {"rows": predicted["rows"], "output_path": predicted["output_path"]}
    else:
        summary["rows"] = drift["current_rows"]
    summary |= {
        "drift_share": round(drift["drift_share"], 6),
        "drift_threshold": drift["threshold"],
        "drift_detected": drift["drift_detected"],
        "drifted_columns": drift["drifted_columns"],
        "prediction_drift_detected": drift["prediction_drift_detected"],
        "prediction_drift_score": drift["prediction_drift_score"],
        "gate": drift["gate"],
        "drift_summary": drift["summary"],
        "reference_rows": drift["reference_rows"],
        "prometheus_textfile": drift["prometheus_textfile"],
        "mlflow_run_id": drift["mlflow_run_id"],
        "mlflow_experiment_id": drift["mlflow_experiment_id"],
        "mlflow_experiment": drift["mlflow_experiment"],
        "zenml_run_id": str(run.id),
        "zenml_run_name": run.name,
    }
    if drift["drift_detected"] and monitoring.fail_on_drift:
        summary["_exit_code"] = DRIFT_EXIT_CODE
        summary["_exit_reason"] = (
            f"{drift['gate']}; fail_on_drift is set, so `{command}` exits with code {DRIFT_EXIT_CODE} "
            "(check the data, or retrain the model on recent data)."
        )
    return summary


def _batch_config(args: argparse.Namespace) -> Path:
    """The batch YAML, or a temporary copy of it with --fail-on-drift / --prom-file applied."""
    config_path = Path(args.config)
    if not args.fail_on_drift and args.prom_file is None:
        return config_path
    import tempfile

    import yaml

    content = read_yaml(config_path)
    monitoring = content.setdefault("parameters", {}).setdefault("monitoring", {})
    if args.fail_on_drift:
        monitoring["fail_on_drift"] = True
    if args.prom_file is not None:
        monitoring["prometheus_textfile"] = str(Path(args.prom_file).resolve()) if args.prom_file else None
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="batch-", delete=False) as handle:
        yaml.safe_dump(content, handle, sort_keys=False)
    return Path(handle.name)


def _batch_lines(summary: dict[str, Any]) -> list[str]:
    """The batch inference / drift part of the human summary."""
    if "drift_share" not in summary:
        return []
    lines = [f"Rows             {summary.get('rows')} from {summary.get('data_path')}"]
    if summary.get("output_path"):
        lines.append(f"Predictions      {summary['output_path']}")
    lines.append(
        f"Drift share      {summary['drift_share']:.3f} of feature columns (gate: > {summary['drift_threshold']:g})"
    )
    lines.append(f"Drifted columns  {', '.join(summary['drifted_columns']) or '-'}")
    score = summary.get("prediction_drift_score")
    lines.append(
        f"Prediction drift {'detected' if summary['prediction_drift_detected'] else 'not detected'}"
        + (f" (score {score:.3f})" if score is not None else "")
    )
    lines.append(f"Gate             {summary['gate']}")
    if summary.get("prometheus_textfile"):
        lines.append(f"Prometheus file  {summary['prometheus_textfile']}")
    lines.append(f"Summary          {summary['drift_summary']}")
    return lines


# --------------------------------------------------------------------------- helpers
def _finished(run: PipelineRunResponse | None) -> PipelineRunResponse:
    if run is None:
        raise TabularMLOpsError("The pipeline did not start a run (is the active stack's orchestrator remote?).")
    return run


def _load_output(run: Any, step_name: str, output_name: str) -> Any:
    from zenml.client import Client

    run = Client().get_pipeline_run(run.id)
    step = run.steps.get(step_name)
    if step is None or output_name not in step.outputs:
        raise TabularMLOpsError(f"Pipeline run '{run.name}' has no output '{output_name}' of step '{step_name}'.")
    outputs = step.outputs[output_name]
    artifact = outputs[0] if isinstance(outputs, list) else outputs
    return artifact.load()


def _registry_facts(model_name: str, version: str) -> dict[str, Any]:
    """Name, version, stage, test metrics and MLflow run of a registered version."""
    from mlflow.tracking import MlflowClient

    from stacks.registration import configure_mlflow_from_active_stack

    configure_mlflow_from_active_stack()
    registered = MlflowClient().get_model_version(model_name, version)
    tags = dict(registered.tags)
    return {
        "model_name": model_name,
        "model_version": version,
        "model_uri": f"models:/{model_name}/{version}",
        "stage": _zenml_stage(model_name, tags["zenml_model_version"]) if "zenml_model_version" in tags else "none",
        "metrics": {k: float(v) for k, v in sorted(tags.items()) if k.startswith("test_")},
        "mlflow_run_id": registered.run_id,
    }


def _zenml_stage(model_name: str, version: str) -> str:
    from zenml.client import Client

    stage = Client().get_model_version(model_name, version).stage
    return str(getattr(stage, "value", stage) or "none")


def _print_summary(summary: dict[str, Any], as_json: bool) -> None:
    example = summary.pop("_example", None)
    if as_json:
        print(json.dumps(summary, default=str), flush=True)
        return
    lines = ["", "=" * 78]
    if "model_name" in summary:
        lines.append(
            f"Model            {summary['model_name']} version {summary.get('model_version', '?')}"
            + (f" (stage: {summary['stage']})" if summary.get("stage") else "")
        )
    if "gates" in summary:
        lines.append(f"Gates            {summary['gates']}")
    for transition in summary.get("transitions", []):
        lines.append(f"Transition       {transition}")
    if summary.get("family"):
        lines.append(f"Selected family  {summary['family']} ({summary.get('task')})")
    metrics = summary.get("metrics", {})
    width = max((len(key) for key in metrics), default=0) + 2
    for key, value in metrics.items():
        lines.append(f"  {key:<{width}}{value:.4f}")
    lines.extend(_batch_lines(summary))
    if summary.get("mlflow_run_id"):
        experiment = summary.get("mlflow_experiment") or summary.get("mlflow_experiment_id")
        lines.append(f"MLflow run       {summary['mlflow_run_id']} (experiment {experiment})")
        lines.append('MLflow UI        mlflow ui --backend-store-uri "$(python run.py tracking-uri)" --host 127.0.0.1')
    if summary.get("zenml_run_name"):
        lines.append(f"ZenML run        {summary['zenml_run_name']} ({summary.get('zenml_run_id')})")
        lines.append("ZenML dashboard  zenml login --local --ip-address 127.0.0.1   (then open the printed URL)")
    url = summary.get("endpoint_url")
    if url and example is not None:
        lines.append(f"Endpoint         {url}")
        if url.endswith("/invocations"):
            payload = json.dumps({"dataframe_records": [example]}, default=str)
        elif url.endswith("/predictions"):  # Seldon's protocol
            payload = json.dumps({"jsonData": [example]}, default=str)
        else:
            payload = json.dumps({"records": [example]}, default=str)
        lines.append("Try a prediction:")
        lines.append(f"  curl -s -X POST {url} -H 'Content-Type: application/json' -d '{payload}'")
    if summary.get("bundle"):
        lines.append(f"Bundle           {summary['bundle']}")
        lines.append(f"Serve it         {summary['seldon_command']}")
    if summary.get("stack"):
        lines.append(f"Stack            {summary['stack']} ({'active' if summary.get('active') else 'registered'})")
    lines.append("=" * 78)
    print("\n".join(lines), flush=True)


def cmd_promote(args: argparse.Namespace) -> dict[str, Any]:
    """Manual review: approve a staging version into production, or reject it."""
    from stacks.registration import configure_mlflow_from_active_stack
    from steps.promotion import mirror_to_zenml
    from tabular_mlops.registry.promotion import approve, reject

    configure_mlflow_from_active_stack()
    name = args.model_name or resolve_dataset(args).model_name
    decide = approve if args.approve else reject
    events = decide(name, str(args.version), args.reason, actor=args.actor)
    mirror_to_zenml(name, events)
    return {
        "command": "promote",
        **_registry_facts(name, str(args.version)),
        "stage": events[-1].to_stage,
        "transitions": [f"v{e.version}: {e.from_stage} -> {e.to_stage} ({e.actor}: {e.reason})" for e in events],
    }


def cmd_models(args: argparse.Namespace) -> dict[str, Any]:
    """The versions of a model with their stages and metrics, and the audit trail."""
    from dataclasses import asdict

    import pandas as pd

    from stacks.registration import configure_mlflow_from_active_stack
    from tabular_mlops.registry.promotion import audit_trail, models_table

    configure_mlflow_from_active_stack()
    name = args.model_name or resolve_dataset(args).model_name
    table = models_table(name)
    events = audit_trail(name)
    if args.json:
        return {
            "command": "models",
            "model_name": name,
            "versions": table.to_dict(orient="records"),
            "audit": [asdict(e) for e in events],
        }
    with pd.option_context("display.max_columns", None, "display.width", 220, "display.max_colwidth", 70):
        print(f"Model {name}\n\n{table.to_string(index=False)}\n\nAudit trail (oldest first)")
    for e in events:
        print(f"  #{e.sequence:<3} {e.at}  v{e.version}: {e.from_stage} -> {e.to_stage}  by {e.actor}: {e.reason}")
    return {}


def cmd_tracking_uri(args: argparse.Namespace) -> dict[str, Any]:
    from stacks.registration import configure_mlflow_from_active_stack

    uri = configure_mlflow_from_active_stack()
    if not args.json:
        print(uri)
    return {"command": "tracking-uri", "tracking_uri": uri} if args.json else {}


# --------------------------------------------------------------------------- argument parsing
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a flag given before or after the command name both count.
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object on the last line"
    )
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks on errors"
    )

    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--dataset", default=DEFAULT_DATASET, help="dataset config name under configs/datasets/ (default: %(default)s)"
    )
    data.add_argument("--dataset-config", help="path to a dataset YAML config (overrides --dataset)")
    data.add_argument("--data", help="path to any CSV file (with --target; overrides --dataset)")
    data.add_argument("--target", help="column to predict in --data")
    data.add_argument("--model-name", help="registered model name (default: from the dataset config)")

    train = argparse.ArgumentParser(add_help=False)
    train.add_argument("--config", default=str(TRAINING_CONFIG), help="training pipeline YAML (default: %(default)s)")
    train.add_argument("--no-cache", action="store_true", help="re-run the cached data steps too")
    train.add_argument("--budget", type=float, help="seconds for the hyper-parameter search (overrides hpo.timeout_s)")
    train.add_argument("--trials", type=int, help="trial budget of the search (overrides hpo.n_trials)")
    train.add_argument(
        "--families", help="comma-separated model families to try, e.g. lightgbm,mlp (default: all in --config)"
    )

    deploy = argparse.ArgumentParser(add_help=False)
    deploy.add_argument(
        "--deploy-config", default=str(DEPLOYMENT_CONFIG), help="deployment pipeline YAML (default: %(default)s)"
    )

    parser = argparse.ArgumentParser(
        description="Train, register, deploy and serve tabular models on the active ZenML stack. "
        "Without a command: train on the default dataset, then deploy the model.",
        parents=[common, data, train, deploy],
    )
    parser.set_defaults(func=cmd_run, version=None)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser(
        "train",
        parents=[common, data, train],
        help="run the training pipeline",
        description="Load, validate and split the data, train and select a model, "
        "evaluate it on the test split and register it in MLflow and ZenML.",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "deploy",
        parents=[common, data, deploy],
        help="serve a registered model via the stack's model deployer",
        description="Deploy a registered model version (the production version by default) with the active stack's "
        "model deployer.",
    )
    p.add_argument("--version", help="registered model version (default: the production version)")
    p.set_defaults(func=cmd_deploy)

    p = sub.add_parser(
        "serve",
        parents=[common, data],
        help="start the project's FastAPI prediction server",
        description="Serve a registered model with /healthz, /predict, /model-info and /metrics.",
    )
    p.add_argument("--version", help="registered model version (default: the production version)")
    p.add_argument("--model-uri", help="any MLflow model URI (overrides name and version)")
    p.add_argument("--host", help="bind address (default from configs/serving.yaml: 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default from configs/serving.yaml: 8080)")
    p.add_argument("--serve-config", default=str(SERVING_CONFIG), help="server settings YAML (default: %(default)s)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "export",
        parents=[common, data],
        help="write a registered version as a bundle for the Seldon microservice",
        description="Write model.joblib + bundle.json (schema, classes, library versions, checksum) of a registered "
        "version to --output: what deploy/seldon/TabularSeldonModel.py serves, without MLflow.",
    )
    p.add_argument("--version", help="registered model version (default: the production version)")
    p.add_argument("--output", required=True, help="directory to write the bundle to")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "promote",
        parents=[common, data],
        help="approve or reject a staging version (manual review)",
        description="Manual review: --approve moves a staging version to production (the previous production version "
        "is archived); --reject sends it back to stage none. Recorded in the audit trail with your reason.",
    )
    p.add_argument("--version", required=True, help="registered model version to review")
    decision = p.add_mutually_exclusive_group(required=True)
    decision.add_argument("--approve", action="store_true", help="staging -> production")
    decision.add_argument("--reject", action="store_true", help="staging -> none")
    p.add_argument("--reason", required=True, help="why: goes into the audit trail")
    p.add_argument("--actor", help="who decides (default: the current user)")
    p.set_defaults(func=cmd_promote)

    p = sub.add_parser(
        "models",
        parents=[common, data],
        help="list a model's versions, stages, metrics and audit trail",
        description="Versions of the registered model with stage, alias, metrics and gates, and every stage "
        "transition with who, when and why.",
    )
    p.set_defaults(func=cmd_models)

    batch = argparse.ArgumentParser(add_help=False)
    batch.add_argument("--data", required=True, help="CSV file of rows to predict / to monitor")
    batch.add_argument("--dataset", default=DEFAULT_DATASET, help="dataset whose model to use (default: %(default)s)")
    batch.add_argument("--dataset-config", help="path to a dataset YAML config (overrides --dataset)")
    batch.add_argument("--model-name", help="registered model name (overrides --dataset)")
    batch.add_argument("--version", help="registered model version (default: the production version)")
    batch.add_argument("--config", default=str(BATCH_CONFIG), help="batch pipeline YAML (default: %(default)s)")
    batch.add_argument(
        "--fail-on-drift",
        action="store_true",
        help=f"exit with code {DRIFT_EXIT_CODE} when the drift gate fires (monitoring.fail_on_drift in --config)",
    )
    batch.add_argument(
        "--prom-file", help="Prometheus textfile to write (monitoring.prometheus_textfile in --config; '' for none)"
    )

    p = sub.add_parser(
        "predict",
        parents=[common, batch],
        help="batch predictions for a CSV, with drift monitoring",
        description="Check a CSV against the model's training schema, predict every row (the production version "
        "unless --version), write the rows with prediction and probability_<class> columns, and measure data and "
        "prediction drift against the model's training rows (Evidently report, MLflow run, Prometheus textfile).",
    )
    p.add_argument("--out", help="predictions CSV to write (default: <name>.predictions.csv next to --data)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "monitor",
        parents=[common, batch],
        help="drift of an existing predictions file",
        description="Measure data drift of a predictions file's feature columns and drift of its prediction column "
        "against the model's training rows, without predicting again.",
    )
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser(
        "stacks",
        parents=[common],
        help="register a stack from stacks/*.yaml and activate it",
        description="Initialise the ZenML repository, turn analytics off and register a stack "
        "from its YAML file (idempotent), then make it the active stack. Environment variables named in the "
        "file's environment_overrides replace its values (stacks/k8s-seldon.yaml lists them).",
    )
    p.add_argument("--stack", default="local", help="stack name under stacks/ or a YAML path (default: %(default)s)")
    p.add_argument("--no-activate", action="store_true", help="register only, keep the active stack")
    p.add_argument(
        "--render",
        metavar="PATH",
        help="only write the stack file with the environment overrides applied, for `zenml stack import NAME -f PATH`",
    )
    p.set_defaults(func=cmd_stacks)

    p = sub.add_parser(
        "tracking-uri",
        parents=[common],
        help="print the active stack's MLflow tracking URI",
        description="Print the MLflow tracking URI of the active stack (for `mlflow ui`).",
    )
    p.set_defaults(func=cmd_tracking_uri)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    args.debug = getattr(args, "debug", False)
    if not args.debug:
        _quiet_tracebacks()
    try:
        summary = args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        message = _root_message(exc)
        if args.json:
            print(json.dumps({"error": message}), flush=True)
        else:
            print(f"error: {message}", file=sys.stderr, flush=True)
        return 1
    exit_code = int(summary.pop("_exit_code", 0)) if summary else 0
    exit_reason = summary.pop("_exit_reason", "") if summary else ""
    if summary:
        _print_summary(summary, args.json)
    if exit_code:
        print(f"error: {exit_reason}", file=sys.stderr, flush=True)
    return exit_code


class _NoTraceback(logging.Filter):
    """Drop the traceback from log records (ZenML logs one per failed step); --debug keeps them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


def _quiet_tracebacks() -> None:
    import zenml.logger  # noqa: F401  (installs ZenML's handlers)

    for logger in (logging.getLogger(), logging.getLogger("zenml")):
        for handler in logger.handlers:
            handler.addFilter(_NoTraceback())
    logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)


def _root_message(exc: BaseException) -> str:
    """The most specific message in the exception chain, on one line."""
    chain = [exc]
    while chain[-1].__cause__ is not None or (chain[-1].__context__ is not None and not chain[-1].__suppress_context__):
        nxt = chain[-1].__cause__ or chain[-1].__context__
        if nxt is None or nxt in chain:
            break
        chain.append(nxt)
    ours = [e for e in chain if isinstance(e, TabularMLOpsError)]
    chosen = ours[0] if ours else exc
    text = str(chosen).strip() or type(chosen).__name__
    if not ours:
        text = f"{type(chosen).__name__}: {text}"
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
