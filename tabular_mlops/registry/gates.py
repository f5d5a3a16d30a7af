"""Promotion gates: thresholds on test metrics, and the champion/challenger rule.

Gates come from YAML, per task, with per-dataset overrides::

    gates:
      binary: {f1: ">= 0.8", accuracy: ">= 0.85", roc_auc: ">= 0.9"}
      regression: {r2: ">= 0.8"}
      champion_margin: 0.0   # a challenger must beat production by at least this (headline metric)
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from tabular_mlops.errors import ConfigError
from tabular_mlops.evaluation.metrics import HEADLINE, LOWER_IS_BETTER

_RULE = re.compile(r"^\s*(>=|<=|>|<)\s*(-?[0-9.eE+-]+)\s*$")


@dataclass(frozen=True)
class Gate:
    metric: str
    operator: str
    threshold: float

    def describe(self) -> str:
        return f"{self.metric} {self.operator} {self.threshold:g}"


@dataclass
class GateResult:
    """One gate's verdict; ``margin`` is how far the value is on the passing side (negative: failed)."""

    gate: str
    metric: str
    value: float | None
    threshold: float
    passed: bool
    margin: float
    message: str


@dataclass
class GateReport:
    results: list[GateResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def failed(self) -> list[GateResult]:
        return [r for r in self.results if not r.passed]

    def summary(self) -> str:
        if self.passed:
            return "all gates passed: " + "; ".join(r.message for r in self.results)
        return "gates failed: " + "; ".join(r.message for r in self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "results": [asdict(r) for r in self.results]}


def parse_gates(config: dict[str, Any], task: str) -> tuple[list[Gate], float]:
    """The gates of ``task`` and the champion margin from a ``gates:`` mapping."""
    rules = dict(config.get(task) or {})
    gates = []
    for metric, rule in rules.items():
        match = _RULE.match(str(rule))
        if not match:
            raise ConfigError(f"gates.{task}.{metric}: '{rule}' is not a rule like '>= 0.8' or '<= 0.45'.")
        gates.append(Gate(str(metric), match.group(1), float(match.group(2))))
    margin = float(config.get("champion_margin", 0.0))
    return gates, margin


def merge_gates(defaults: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Dataset gates replace the defaults task by task (a dataset's ``binary:`` replaces all binary gates)."""
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (defaults or {}).items()}
    for key, value in (overrides or {}).items():
        merged[key] = dict(value) if isinstance(value, dict) else value
    return merged


def check_gates(metrics: dict[str, float], gates: list[Gate]) -> list[GateResult]:
    results = []
    for gate in gates:
        value = metrics.get(gate.metric)
        if value is None or not math.isfinite(value):
            results.append(
                GateResult(
                    gate.describe(),
                    gate.metric,
                    None,
                    gate.threshold,
                    False,
                    -math.inf,
                    f"{gate.metric} is not computed for this task (available: {sorted(metrics)})",
                )
            )
            continue
        if gate.operator in (">=", ">"):
            margin = value - gate.threshold
            passed = margin >= 0 if gate.operator == ">=" else margin > 0
        else:
            margin = gate.threshold - value
            passed = margin >= 0 if gate.operator == "<=" else margin > 0
        verdict = "passed" if passed else f"FAILED by {abs(margin):.4f}"
        results.append(
            GateResult(
                gate.describe(),
                gate.metric,
                value,
                gate.threshold,
                passed,
                margin,
                f"{gate.metric} {value:.4f} {gate.operator} {gate.threshold:g}: {verdict}",
            )
        )
    return results


def champion_rule(
    task: str, challenger: dict[str, float], champion: dict[str, float] | None, margin: float, champion_version: str
) -> GateResult | None:
    """The challenger must beat the current production model on the same test rows by ``margin``."""
    if champion is None:
        return None
    metric = HEADLINE[task]
    new, old = challenger[metric], champion[metric]
    lower = metric in LOWER_IS_BETTER
    advantage = (old - new) if lower else (new - old)
    passed = advantage >= margin
    verdict = "passed" if passed else f"FAILED by {margin - advantage:.4f}"
    return GateResult(
        f"beats champion v{champion_version} by {margin:g} on {metric}",
        metric,
        new,
        old,
        passed,
        advantage - margin,
        f"{metric} {new:.4f} vs. champion v{champion_version} {old:.4f} on the same test rows "
        f"(needs {'-' if lower else '+'}{margin:g}): {verdict}",
    )
