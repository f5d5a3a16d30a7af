"""run.py as users call it: help on every command, one-line errors, --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT


def run_cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
    )


@pytest.mark.parametrize(
    "command", [[], ["train"], ["deploy"], ["serve"], ["predict"], ["monitor"], ["stacks"], ["tracking-uri"]]
)
def test_help_on_every_command(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "--json" in result.stdout and "--debug" in result.stdout


def test_missing_file_is_one_line_without_traceback(tmp_path: Path) -> None:
    result = run_cli("train", "--data", str(tmp_path / "missing.csv"), "--target", "y")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: File '{tmp_path / 'missing.csv'}' does not exist; check the path given with --data."
    ]


def test_wrong_target_json_error(tmp_path: Path) -> None:
    path = tmp_path / "small.csv"
    path.write_text("a,b\n1,2\n")
    result = run_cli("train", "--data", str(path), "--target", "label", "--json")
    assert result.returncode == 1
    error = json.loads(result.stdout.strip().splitlines()[-1])
    assert "Target column 'label' is not in" in error["error"] and "['a', 'b']" in error["error"]


def test_target_without_data_is_rejected() -> None:
    result = run_cli("train", "--target", "y")
    assert result.returncode == 1
    assert "--target needs --data" in result.stderr


def test_unknown_dataset_lists_available() -> None:
    result = run_cli("train", "--dataset", "mnist")
    assert result.returncode == 1
    assert "available datasets: ['adult']" in result.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = run_cli("train", "--data", str(tmp_path / "missing.csv"), "--target", "y", "--debug")
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_predict_checks_its_file_and_config_before_starting(tmp_path: Path) -> None:
    result = run_cli("predict", "--data", str(tmp_path / "new.csv"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: File '{tmp_path / 'new.csv'}' does not exist; check the path given with --data."
    ]
    config = tmp_path / "batch.yaml"
    config.write_text("parameters:\n  monitoring:\n    drift_threshold: 0.2\n")
    result = run_cli("monitor", "--data", str(tmp_path / "new.csv"), "--config", str(config), "--json")
    error = json.loads(result.stdout.strip().splitlines()[-1])["error"]
    assert result.returncode == 1 and "monitoring: unknown key(s) ['drift_threshold']" in error


def test_summary_aligns_long_metric_names(capsys: pytest.CaptureFixture[str]) -> None:
    import run

    run._print_summary(
        {"family": "xgboost", "task": "binary", "metrics": {"test_f1": 0.7, "test_precision_macro": 0.8}}, False
    )
    lines = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("  test_")]
    assert lines == [["test_f1", "0.7000"], ["test_precision_macro", "0.8000"]]
