"""Online serving: our FastAPI server vs. MLflow's scoring server vs. MLServer (and our Seldon
component under seldon-core), same model, same load.

    python bench/serving.py [--seconds 10] [--skip-mlserver] [--skip-seldon]

One LightGBM pipeline (the project's preprocessing + LGBMClassifier, trained on Adult) is logged
and registered in a temporary MLflow registry, then served in turn, alone on the machine, by

* ours: ``python run.py serve --model-uri models:/bench-adult/1`` (uvicorn, one process);
* MLflow 3.17: ``mlflow models serve --env-manager local`` (one worker);
* MLServer 1.7.1 with the ``mlserver_mlflow`` runtime (its defaults), from ``.venv-mlserver``
  (created on first use from bench/requirements-mlserver.txt: it pins fastapi/starlette/protobuf
  versions of its own, as it would in its own container);
* seldon-core 1.19's microservice running the project's class ``deploy/seldon/TabularSeldonModel.py``
  on the model exported as a bundle (``python run.py export``), from ``.venv-seldon`` (``make
  seldon-venv``; skipped when absent): what the Kubernetes stack serves with.

The load generator is wrk (Debian package ``wrk``) on loopback: single-row requests from one
connection (sequential), single-row requests from 8 connections, and 100-row batches from one
connection. The physical floor is measured in the same run: the bare estimator's in-process
``predict_proba`` on one already transformed row, plus the HTTP time of an empty uvicorn endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MLSERVER_VENV = ROOT / ".venv-mlserver"
SELDON_MICROSERVICE = ROOT / ".venv-seldon" / "bin" / "seldon-core-microservice"
EMPTY_APP = """
from fastapi import FastAPI, Request
from fastapi.responses import Response
app = FastAPI()
@app.post("/empty")
async def empty(request: Request) -> Response:
    await request.body()
    return Response(b"{}", media_type="application/json")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 120.0, process: subprocess.Popen[bytes] | None = None) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace")[-3000:] if process.stderr else ""
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}:\n{stderr}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def train_and_register(tmp: Path) -> tuple[str, Any, Any, list[dict[str, Any]]]:
    """Train the LightGBM pipeline, log + register it; return (model uri, pipeline, schema, test records)."""
    import mlflow

    from tabular_mlops.config import SplitConfig
    from tabular_mlops.data.prepare import load_typed
    from tabular_mlops.data.splitting import split_frame
    from tabular_mlops.features.preprocessing import build_model_pipeline, build_preprocessor
    from tabular_mlops.models.zoo import make_estimator
    from tabular_mlops.registry.mlflow_registry import log_model

    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    mlflow.set_experiment("bench-serving")
    typed = load_typed(str(ROOT / "data" / "adult.csv.gz"), "income")
    schema = typed.schema
    splits = split_frame(typed.frame, "income", "binary", SplitConfig())
    model = build_model_pipeline(
        build_preprocessor(schema), make_estimator("lightgbm", "binary", {"n_estimators": 300}, n_jobs=2)
    )
    model.fit(splits.train[schema.feature_names], splits.train["income"])
    with mlflow.start_run():
        info = log_model(model, splits.train[schema.feature_names], schema, {"test_metrics": {}})
    mlflow.register_model(info.model_uri, "bench-adult")
    test = splits.test[schema.feature_names].dropna()
    records = [dict(r) for r in test.to_dict("records")]
    return "models:/bench-adult/1", model, schema, records


def parse_wrk(output: str) -> dict[str, float]:
    def seconds(text: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()  # type: ignore[union-attr]
        return float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]

    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    for label in ("50", "99"):
        match = re.search(rf"^\s+{label}%\s+(\S+)", output, re.MULTILINE)
        result[f"p{label}_ms"] = seconds(match.group(1)) * 1e3 if match else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    result["errors"] = float(errors.group(1)) if errors else 0.0
    if socket_errors:
        result["errors"] += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return result


def wrk(url: str, body: dict[str, Any], connections: int, seconds: int, tmp: Path) -> dict[str, float]:
    payload = tmp / f"body-{abs(hash(json.dumps(body, sort_keys=True)))}.json"
    payload.write_text(json.dumps(body))
    script = tmp / "post.lua"
    script.write_text(
        f'local f = io.open("{payload}", "rb")\n'
        'wrk.method = "POST"\nwrk.body = f:read("*all")\nf:close()\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    threads = 1 if connections == 1 else 2
    # warm-up, then the measurement
    subprocess.run(["wrk", "-t1", "-c1", "-d2s", "-s", str(script), url], capture_output=True, check=True)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return parse_wrk(out)


def mlserver_python() -> Path:
    python = MLSERVER_VENV / "bin" / "python"
    if not python.exists():
        print("creating .venv-mlserver (MLServer 1.7.1 + mlserver-mlflow) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(MLSERVER_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "-r", str(ROOT / "bench" / "requirements-mlserver.txt")], check=True)
    return python


def v2_payload(records: list[dict[str, Any]], schema: Any) -> dict[str, Any]:
    inputs = []
    for name in schema.feature_names:
        values = [r[name] for r in records]
        numeric = name in schema.numeric_features
        inputs.append(
            {
                "name": name,
                "shape": [len(values)],
                "datatype": "FP64" if numeric else "BYTES",
                "data": [float(v) for v in values] if numeric else [str(v) for v in values],
            }
        )
    return {"parameters": {"content_type": "pd"}, "inputs": inputs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="duration of each load scenario")
    parser.add_argument("--skip-mlserver", action="store_true")
    parser.add_argument("--skip-seldon", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    model_uri, pipeline, schema, test_records = train_and_register(tmp)
    import mlflow

    tracking = mlflow.get_tracking_uri()
    # MLflow's server runs `uvicorn` from PATH: the interpreter's own bin directory first.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "PYTHONPATH": str(ROOT), "PATH": path}
    one, hundred = test_records[:1], test_records[:100]

    # The floor, part 1: the bare estimator on one already transformed row.
    estimator = pipeline.steps[-1][1]
    row = pipeline.named_steps["preprocess"].transform(__import__("pandas").DataFrame(one))
    timings = []
    for _ in range(2000):
        started = time.perf_counter()
        estimator.predict_proba(row)
        timings.append(time.perf_counter() - started)
    estimator_ms = float(np.median(timings) * 1e3)
    booster, dense = estimator.booster_, row.toarray() if hasattr(row, "toarray") else row
    timings = []
    for _ in range(2000):
        started = time.perf_counter()
        booster.predict(dense, num_threads=1)
        timings.append(time.perf_counter() - started)
    booster_ms = float(np.median(timings) * 1e3)

    servers: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, dict[str, float]]] = {}

    def run_server(name: str, command: list[str], ready: str, url: str, bodies: dict[str, Any], **popen: Any) -> None:
        print(f"{name}: starting", flush=True)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)
        try:
            wait_http(ready, process=process)
            import httpx

            check = httpx.post(url, json=bodies["one"], timeout=30)
            assert check.status_code == 200, f"{name}: {check.status_code} {check.text[:500]}"
            results[name] = {
                "single-row sequential": wrk(url, bodies["one"], 1, args.seconds, tmp),
                "single-row, 8 clients": wrk(url, bodies["one"], 8, args.seconds, tmp),
                "100-row batch sequential": wrk(url, bodies["hundred"], 1, args.seconds, tmp),
            }
            servers[name] = {"check": check.json()}
            print(f"{name}: {results[name]}", flush=True)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    # The floor, part 2: an empty endpoint's HTTP time.
    port = free_port()
    (tmp / "empty_app.py").write_text(EMPTY_APP)
    run_server(
        "empty endpoint",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "empty_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        f"http://127.0.0.1:{port}/docs",
        f"http://127.0.0.1:{port}/empty",
        {"one": {"records": one}, "hundred": {"records": hundred}},
        cwd=tmp,
        env=env,
    )

    port = free_port()
    run_server(
        "ours",
        [sys.executable, str(ROOT / "run.py"), "serve", "--model-uri", model_uri, "--port", str(port), "--json"],
        f"http://127.0.0.1:{port}/readyz",
        f"http://127.0.0.1:{port}/predict",
        {"one": {"records": one}, "hundred": {"records": hundred}},
        env=env,
        cwd=ROOT,
    )

    port = free_port()
    mlflow_cli = str(Path(sys.executable).parent / "mlflow")
    run_server(
        "MLflow scoring server",
        [
            mlflow_cli,
            "models",
            "serve",
            "-m",
            model_uri,
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ],
        f"http://127.0.0.1:{port}/ping",
        f"http://127.0.0.1:{port}/invocations",
        {"one": {"dataframe_records": one}, "hundred": {"dataframe_records": hundred}},
        env=env,
    )

    if not args.skip_mlserver:
        python = mlserver_python()
        local = mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp / "model"))
        models_dir = tmp / "mlserver"
        (models_dir / "adult").mkdir(parents=True)
        http, grpc, metrics = free_port(), free_port(), free_port()
        (models_dir / "settings.json").write_text(
            json.dumps({"host": "127.0.0.1", "http_port": http, "grpc_port": grpc, "metrics_port": metrics})
        )
        (models_dir / "adult" / "model-settings.json").write_text(
            json.dumps(
                {"name": "adult", "implementation": "mlserver_mlflow.MLflowRuntime", "parameters": {"uri": local}}
            )
        )
        run_server(
            "MLServer 1.7.1 (mlflow runtime)",
            [str(python.parent / "mlserver"), "start", str(models_dir)],
            f"http://127.0.0.1:{http}/v2/models/adult/ready",
            f"http://127.0.0.1:{http}/v2/models/adult/infer",
            {"one": v2_payload(one, schema), "hundred": v2_payload(hundred, schema)},
            env={**env, "PYTHONPATH": "", "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
            cwd=models_dir,
        )

    if not args.skip_seldon and SELDON_MICROSERVICE.is_file():
        from tabular_mlops.serving.bundle import export_bundle
        from tabular_mlops.serving.model import ServedModel

        bundle = export_bundle(ServedModel.from_mlflow(model_uri), tmp / "seldon-bundle")
        http, metrics = free_port(), free_port()
        names = list(one[0])
        run_server(
            "seldon-core 1.19 (our class)",
            [
                str(SELDON_MICROSERVICE),
                "TabularSeldonModel",
                "--service-type",
                "MODEL",
                "--http-port",
                str(http),
                "--metrics-port",
                str(metrics),
                "--grpc-workers",
                "0",
            ],
            f"http://127.0.0.1:{http}/health/ping",
            f"http://127.0.0.1:{http}/api/v1.0/predictions",
            {
                key: {"data": {"names": names, "ndarray": [[r.get(n) for n in names] for r in rows]}}
                for key, rows in (("one", one), ("hundred", hundred))
            },
            env={
                **{k: v for k, v in env.items() if k != "VIRTUAL_ENV"},
                "PYTHONPATH": f"{ROOT / 'deploy' / 'seldon'}{os.pathsep}{ROOT}",
                "MODEL_DIR": str(bundle),
            },
            cwd=tmp,
        )
    elif not args.skip_seldon:
        print(f"seldon-core: {SELDON_MICROSERVICE} is missing (make seldon-venv); skipped", flush=True)

    # Same answers: every server's prediction for the row.
    print("\nAnswers for the first row:", {k: str(v["check"])[:160] for k, v in servers.items()})

    http_ms = results["empty endpoint"]["single-row sequential"]["p50_ms"]
    floor_ms = estimator_ms + http_ms
    floor_rps = 1000.0 / floor_ms
    print(
        f"\nFloor: bare LGBMClassifier.predict_proba on one transformed row {estimator_ms:.3f} ms + empty endpoint "
        f"{http_ms:.3f} ms = {floor_ms:.3f} ms -> {floor_rps:.0f} requests/s"
    )
    print(
        f"(LightGBM's booster itself, one thread, on that row: {booster_ms:.3f} ms -> floor "
        f"{1000.0 / (booster_ms + http_ms):.0f} requests/s)\n"
    )
    print("| server | scenario | requests/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for name, scenarios in results.items():
        for scenario, r in scenarios.items():
            print(
                f"| {name} | {scenario} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']:.0f} |"
            )
    if "ours" in results and "MLflow scoring server" in results:
        ours = results["ours"]["single-row sequential"]["rps"]
        mlflow_rps = results["MLflow scoring server"]["single-row sequential"]["rps"]
        print(f"\nours / MLflow single-row throughput: {ours / mlflow_rps:.1f}x")
        print(f"ours / floor single-row throughput: {ours / floor_rps:.2f}")
        for name in results:
            if name.startswith(("MLServer", "seldon-core")):
                other = results[name]["single-row sequential"]["rps"]
                print(f"ours / {name} single-row throughput: {ours / other:.1f}x")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
