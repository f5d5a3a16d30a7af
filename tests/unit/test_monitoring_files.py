"""deploy/monitoring: the Prometheus configs and alert rules pass promtool (and the rules' unit tests), and the
Grafana dashboard is valid JSON whose every query uses the metrics the server and the drift monitor export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT_ROOT

MONITORING = PROJECT_ROOT / "deploy" / "monitoring"
DASHBOARD = MONITORING / "grafana-dashboard.json"

# What the prediction server exports on /metrics (tabular_mlops.serving.app) ...
SERVER_METRICS = {
    "tabular_http_requests_total",
    "tabular_request_errors_total",
    "tabular_predicted_rows_total",
    "tabular_predicted_class_total",
    "tabular_feature_missing_total",
    "tabular_model_info",
    "tabular_model_ready",
    "tabular_model_reloads_total",
}
SERVER_HISTOGRAMS = {"tabular_request_latency_seconds", "tabular_prediction_value"}
# ... and what the drift monitor writes to its node_exporter textfile (tabular_mlops.monitoring.drift).
DRIFT_METRICS = {
    "tabular_drift_share",
    "tabular_drift_detected",
    "tabular_prediction_drift_detected",
    "tabular_drift_last_run_timestamp_seconds",
    "tabular_drift_drifted_columns",
    "tabular_prediction_drift_score",
}
KNOWN_METRICS = (
    SERVER_METRICS
    | DRIFT_METRICS
    | {f"{name}{suffix}" for name in SERVER_HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
)
# Series Prometheus and node_exporter make themselves.
OTHER_SERIES = {"up", "node_textfile_scrape_error", "node_textfile_mtime_seconds"}

# Grafana's variables, replaced by values Prometheus accepts.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$instance": ".*",
    "$endpoint": ".*",
    "$model": ".*",
}

METRIC_NAME = re.compile(r"\b(tabular_[a-z0-9_]+)\b")
PROMTOOL_MISSING = (
    "promtool is not installed (Debian package `prometheus`: apt-get install --no-install-recommends prometheus)"
)


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip(PROMTOOL_MISSING)
    return path


def run_promtool(promtool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *map(str, args)], capture_output=True, text=True, timeout=120)


def load_dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text(encoding="utf-8")))


def dashboard_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that is not a row, rows' nested panels included."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            panels.extend(panel.get("panels", []))
        else:
            panels.append(panel)
    return panels


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target, annotation and template variable query of the dashboard."""
    dashboard = load_dashboard()
    found = [
        (f"panel {panel['title']!r}", target["expr"])
        for panel in dashboard_panels(dashboard)
        for target in panel["targets"]
    ]
    found += [(f"annotation {a['name']!r}", a["expr"]) for a in dashboard["annotations"]["list"] if a.get("expr")]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
            found.append((f"variable {variable['name']!r}", match.group(1) if match else query))
    return found


def as_prometheus_query(expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced (longest names first)."""
    for variable in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(variable, GRAFANA_VARIABLES[variable])
    return expr


# ------------------------------------------------------------------------------------------ promtool
def test_prometheus_config_is_valid(promtool: str) -> None:
    result = run_promtool(promtool, "check", "config", MONITORING / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "1 rule files found" in result.stdout


def test_kubernetes_prometheus_config_is_valid(promtool: str, tmp_path: Path) -> None:
    """Debian's Prometheus build lacks Kubernetes service discovery: there, the config is checked with the
    discovery block replaced by a static target (so the relabelling and the rest are still checked)."""
    config = MONITORING / "prometheus-k8s.yml"
    result = run_promtool(promtool, "check", "config", config)
    if result.returncode != 0 and "field kubernetes_sd_configs not found" in result.stdout + result.stderr:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        for job in data["scrape_configs"]:
            sd = job.pop("kubernetes_sd_configs")
            assert sd and sd[0]["role"] == "pod", job
            job["static_configs"] = [{"targets": ["127.0.0.1:8080"]}]
        shutil.copy(MONITORING / "alerts.yml", tmp_path / "alerts.yml")
        (tmp_path / "prometheus-k8s.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
        result = run_promtool(promtool, "check", "config", tmp_path / "prometheus-k8s.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_are_valid(promtool: str) -> None:
    result = run_promtool(promtool, "check", "rules", MONITORING / "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alert_rule_unit_tests_pass(promtool: str) -> None:
    result = run_promtool(promtool, "test", "rules", MONITORING / "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Every dashboard query, variables substituted, as a recording rule: promtool parses each one."""
    rules = [
        {"record": f"dashboard:query_{i}", "expr": as_prometheus_query(expr)}
        for i, (_, expr) in enumerate(dashboard_expressions())
    ]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    result = run_promtool(promtool, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


# -------------------------------------------------------------------------------- without promtool
def test_alerts_have_severity_summary_description_and_runbook() -> None:
    groups = yaml.safe_load((MONITORING / "alerts.yml").read_text(encoding="utf-8"))["groups"]
    alerts = [rule for group in groups for rule in group["rules"] if "alert" in rule]
    names = {rule["alert"] for rule in alerts}
    assert {
        "TabularServerDown",
        "TabularModelNotReady",
        "TabularHighServerErrorRate",
        "TabularHighPredictLatencyP99",
        "TabularDataDriftDetected",
        "TabularDriftMonitoringStale",
    } <= names
    readme = (MONITORING / "README.md").read_text(encoding="utf-8")
    for rule in alerts:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and "Runbook:" in annotations["description"], rule["alert"]
        # The README's heading `### <alert>`, whose anchor on GitHub is the lower-cased name.
        assert annotations["runbook"] == f"deploy/monitoring/README.md#{rule['alert'].lower()}", rule["alert"]
        assert f"\n### {rule['alert']}\n" in readme, f"README.md has no runbook section for {rule['alert']}"
        unknown = set(METRIC_NAME.findall(rule["expr"])) - KNOWN_METRICS
        assert not unknown, f"{rule['alert']} uses metrics nobody exports: {unknown}"


def test_alert_unit_tests_cover_drift_and_error_rate() -> None:
    tests = yaml.safe_load((MONITORING / "alerts_test.yml").read_text(encoding="utf-8"))["tests"]
    firing = {case["alertname"] for test in tests for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert {"TabularDataDriftDetected", "TabularHighServerErrorRate", "TabularHighRequestErrorRate"} <= firing


def test_prometheus_config_scrapes_the_server_and_the_drift_textfile() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    server = jobs["tabular-mlops-server"]
    assert server["static_configs"][0]["targets"] == ["127.0.0.1:8080"]
    assert server["metrics_path"] == "/metrics" and server["scrape_interval"] == "15s"
    assert "tabular-mlops-drift" in jobs
    assert "--collector.textfile.directory" in (MONITORING / "prometheus.yml").read_text(encoding="utf-8")


def test_dashboard_is_grafana_json_on_a_templated_prometheus() -> None:
    dashboard = load_dashboard()
    assert 36 <= dashboard["schemaVersion"] <= 41 and dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource" and variables["DS_PROMETHEUS"]["query"] == "prometheus"
    panels = dashboard_panels(dashboard)
    assert len({p["id"] for p in panels}) == len(panels), "panel ids must be unique"
    for panel in panels:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs), panel["title"]


def test_dashboard_queries_use_only_exported_metrics() -> None:
    used: set[str] = set()
    for where, expr in dashboard_expressions():
        names = set(METRIC_NAME.findall(expr))
        assert names, f"{where} queries no tabular_* metric: {expr}"
        unknown = names - KNOWN_METRICS
        assert not unknown, f"{where} uses metrics nobody exports: {sorted(unknown)}"
        used |= names
    # Each of the panels the dashboard exists for.
    for needed in (
        "tabular_http_requests_total",
        "tabular_request_errors_total",
        "tabular_request_latency_seconds_bucket",
        "tabular_predicted_rows_total",
        "tabular_predicted_class_total",
        "tabular_feature_missing_total",
        "tabular_model_info",
        "tabular_model_ready",
        "tabular_drift_share",
        "tabular_drift_detected",
    ):
        assert needed in used, f"no dashboard panel shows {needed}"


def test_dashboard_latency_panel_shows_p50_p95_p99() -> None:
    exprs = [expr for _, expr in dashboard_expressions()]
    for quantile in ("0.5", "0.95", "0.99"):
        assert any(
            f"histogram_quantile({quantile}," in e and "tabular_request_latency_seconds_bucket" in e for e in exprs
        ), quantile
