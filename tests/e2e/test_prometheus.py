"""A real Prometheus scrapes the real prediction server: the request counter it stores matches the requests sent,
the alert rules of deploy/monitoring/alerts.yml evaluate, and every Grafana dashboard query runs."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from tabular_mlops.serving.app import create_app
from tabular_mlops.serving.model import ServedModel
from tests.conftest import PROJECT_ROOT, fit_model, free_port, serve_in_thread
from tests.unit.test_monitoring_files import as_prometheus_query, dashboard_expressions

pytestmark = pytest.mark.e2e

N_REQUESTS = 25
JOB = "tabular-mlops-server"  # the job name alerts.yml expects
MISSING_FEATURE = "occupation"


@dataclass(frozen=True)
class Stack:
    server_url: str
    prometheus_url: str
    log: Path


def records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0, log: Path | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` (and Prometheus' log tail)."""
    deadline = time.time() + timeout
    last: Any = None
    while time.time() < deadline:
        try:
            last = check()
        except httpx.HTTPError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.25)
    tail = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})\n{tail}")


def query(stack: Stack, promql: str) -> list[dict[str, Any]]:
    """An instant query; the result vector (fails on a query error)."""
    response = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": promql}, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{promql}: {body}"
    return list(body["data"]["result"])


def scalar(stack: Stack, promql: str) -> float | None:
    result = query(stack, promql)
    return float(result[0]["value"][1]) if result else None


@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.skip(
            "prometheus is not installed (Debian package `prometheus`: apt-get install --no-install-recommends "
            "prometheus; .ci/run installs it)"
        )
    return path


@pytest.fixture(scope="module")
def served_model(adult_sample: pd.DataFrame) -> ServedModel:
    pipeline, schema = fit_model(adult_sample, "income", n_estimators=50)
    return ServedModel(pipeline=pipeline, schema=schema, name="adult-test", version="7", model_uri="memory://")


@pytest.fixture(scope="module")
def server_url(prometheus_binary: str, served_model: ServedModel) -> Iterator[str]:
    with serve_in_thread(create_app(served_model)) as url:
        yield url


@pytest.fixture(scope="module")
def stack(
    prometheus_binary: str, server_url: str, adult_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """N_REQUESTS valid /predict requests (2 rows each, one missing MISSING_FEATURE), then Prometheus on a free
    loopback port, scraping the server every second, with the project's alert rules."""
    rows = adult_frame.tail(2 * N_REQUESTS).drop(columns=["income"]).reset_index(drop=True)
    with httpx.Client(timeout=30) as client:
        for i in range(N_REQUESTS):
            batch = records(rows.iloc[2 * i : 2 * i + 2])
            batch[1][MISSING_FEATURE] = None
            response = client.post(f"{server_url}/predict", json={"records": batch})
            assert response.status_code == 200, response.text

    work = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(PROJECT_ROOT / "deploy" / "monitoring" / "alerts.yml")],
        "scrape_configs": [
            {
                "job_name": JOB,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [server_url.removeprefix("http://")]}],
            }
        ],
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    log = work / "prometheus.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                prometheus_binary,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=work,
        )
    stack = Stack(server_url=server_url, prometheus_url=f"http://127.0.0.1:{port}", log=log)
    try:

        def answers(path: str) -> httpx.Response | None:
            """Prometheus' answer to GET path; None while it is starting (no listener yet, or 503)."""
            if process.poll() is not None:
                pytest.fail(f"prometheus exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
            response = httpx.get(f"{stack.prometheus_url}{path}", timeout=5)
            return response if response.status_code == 200 else None

        def target_up() -> bool:
            response = answers("/api/v1/targets")
            targets = response.json()["data"]["activeTargets"] if response else []
            return any(t["labels"]["job"] == JOB and t["health"] == "up" for t in targets)

        wait_for(lambda: answers("/-/ready"), "prometheus to be ready", timeout=60, log=log)
        wait_for(target_up, f"prometheus to scrape {server_url}/metrics", timeout=60, log=log)
        yield stack
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def test_prometheus_stores_the_request_count(stack: Stack) -> None:
    count = wait_for(
        lambda: scalar(stack, 'sum(tabular_http_requests_total{endpoint="/predict"})'),
        "the /predict request counter",
        log=stack.log,
    )
    assert count == N_REQUESTS
    assert scalar(stack, 'sum(tabular_http_requests_total{endpoint="/predict", status="200"})') == N_REQUESTS
    assert scalar(stack, "sum(tabular_predicted_rows_total)") == 2 * N_REQUESTS
    assert scalar(stack, f'sum(tabular_feature_missing_total{{feature="{MISSING_FEATURE}"}})') >= N_REQUESTS
    assert scalar(stack, "sum(tabular_predicted_class_total)") == 2 * N_REQUESTS
    assert scalar(stack, 'sum(tabular_request_latency_seconds_count{endpoint="/predict"})') == N_REQUESTS
    assert scalar(stack, "tabular_model_ready") == 1
    [info] = query(stack, "tabular_model_info")
    assert info["metric"]["name"] == "adult-test" and info["metric"]["version"] == "7"
    assert info["metric"]["job"] == JOB


def test_a_rejected_request_is_counted_by_status_and_kind(stack: Stack) -> None:
    response = httpx.post(f"{stack.server_url}/predict", json={"records": [{"age": "forty"}]}, timeout=30)
    assert response.status_code == 422
    wait_for(
        lambda: scalar(stack, 'sum(tabular_http_requests_total{endpoint="/predict", status="422"})') == 1,
        "the 422 to be scraped",
        log=stack.log,
    )
    assert scalar(stack, 'sum(tabular_request_errors_total{endpoint="/predict", kind="validation"})') == 1


def test_the_alert_rules_evaluate_and_none_fires(stack: Stack) -> None:
    def rules_evaluated() -> list[dict[str, Any]]:
        groups = httpx.get(f"{stack.prometheus_url}/api/v1/rules", timeout=5).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if rules and all(rule["health"] != "unknown" for rule in rules) else []

    rules = wait_for(rules_evaluated, "the alert rules to be evaluated", log=stack.log)
    assert len(rules) >= 10
    broken = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert not broken, broken
    # A healthy server with a ready model, 1 rejected request of 26: nothing fires.
    firing = [rule["name"] for rule in rules if rule.get("state") == "firing"]
    assert not firing, firing


def test_every_dashboard_query_runs_and_the_main_panels_show_data(stack: Stack, adult_frame: pd.DataFrame) -> None:
    for _, expr in dashboard_expressions():
        query(stack, as_prometheus_query(expr))  # fails on a query error
    # Traffic while Prometheus scrapes, so that the rates (and the latency quantiles) are not 0 / NaN.
    rows = records(adult_frame.head(5).drop(columns=["income"]))
    p99 = (
        'histogram_quantile(0.99, sum by (le) (rate(tabular_request_latency_seconds_bucket{endpoint="/predict"}[1m])))'
    )

    ok_rate = 'sum(rate(tabular_http_requests_total{endpoint="/predict", status="200"}[1m]))'
    rows_rate = "sum(rate(tabular_predicted_rows_total[1m]))"

    def traffic_and_p99() -> float | None:
        assert httpx.post(f"{stack.server_url}/predict", json={"records": rows}, timeout=30).status_code == 200
        value = scalar(stack, p99)
        scraped = (scalar(stack, ok_rate) or 0) > 0 and (scalar(stack, rows_rate) or 0) > 0
        return value if scraped and value is not None and np.isfinite(value) and value > 0 else None

    latency = wait_for(traffic_and_p99, "the new requests' rates and a finite /predict p99 latency", log=stack.log)
    assert 0 < latency <= 2.5
    assert query(stack, "max by (instance, job, name, version, stage) (tabular_model_info)")
