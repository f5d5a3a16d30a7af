"""The model card: what the model is for, what it was trained on, how well it does, and where it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tabular_mlops.data.schema import DatasetSchema


@dataclass
class ModelCardFacts:
    """Everything the card shows, gathered by the pipeline's steps."""

    model_name: str
    model_version: str
    stage: str
    description: str
    dataset: dict[str, Any]
    schema: DatasetSchema
    data_sha256: str
    training: dict[str, Any]
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    threshold: float | None
    gates: dict[str, Any]
    top_features: list[tuple[str, float]]
    explanation_output: str
    lineage: dict[str, str]
    limitations: list[str] = field(default_factory=list)


def model_card_markdown(facts: ModelCardFacts) -> str:
    schema = facts.schema
    lines = [
        f"# Model card: {facts.model_name} v{facts.model_version}",
        "",
        f"**Stage:** {facts.stage} &nbsp; **Task:** {schema.task} &nbsp; **Target:** `{schema.target}` &nbsp; "
        f"**Family:** {facts.training.get('family', '?')}",
        "",
        "## Intended use",
        "",
        facts.description
        or f"Predict `{schema.target}` for rows like the training data ({len(schema.feature_columns)} features).",
        "Decisions about people need a human in the loop; use the probabilities, not only the labels.",
        "",
        "## Data",
        "",
        f"- Source: `{facts.dataset.get('path', '?')}` ({facts.dataset.get('source') or 'no source given'}; "
        f"licence: {facts.dataset.get('licence') or 'not stated'})",
        f"- Rows: {schema.n_rows:,}; features used: {len(schema.feature_columns)}; left out: "
        + (", ".join(f"{c.name} ({c.role})" for c in schema.excluded_columns) or "none"),
        f"- Schema fingerprint: `{schema.fingerprint()}`; data sha256: `{facts.data_sha256[:16]}`",
    ]
    if schema.classes:
        lines.append(
            f"- Classes: {', '.join(f'`{c}`' for c in schema.classes)}"
            + (f"; positive class `{schema.positive_class}`" if schema.positive_class else "")
        )
    balance = facts.dataset.get("class_counts")
    if balance:
        total = sum(balance.values())
        lines.append("- Class balance: " + ", ".join(f"{k} {v / total:.1%}" for k, v in balance.items()))
    lines += [
        "",
        "## Training",
        "",
        f"- Selection: {facts.training.get('evaluation', '?')} on {facts.training.get('selection_metric', '?')}, "
        f"{facts.training.get('trials', '?')} Optuna trials in {facts.training.get('search_seconds', 0):.0f} s",
        f"- Split: {facts.training.get('split', {})}",
        f"- Final model: {facts.training.get('final_model', '?')}",
    ]
    if facts.threshold is not None:
        lines.append(
            f"- Decision threshold on P({schema.positive_class}): {facts.threshold:.3f} "
            f"(tuned on out-of-fold predictions for {facts.training.get('threshold_objective', 'f1')})"
        )
    lines += ["", "## Test metrics (held-out split, used once)", "", "| metric | value | 95% CI |", "|---|---|---|"]
    for name, value in sorted(facts.metrics.items()):
        low, high = facts.intervals.get(name, (None, None))
        interval = f"{low:.4f} - {high:.4f}" if low is not None and high is not None else ""
        lines.append(f"| {name} | {value:.4f} | {interval} |")
    lines += ["", "## Promotion gates", ""]
    for result in facts.gates.get("results", []):
        mark = "pass" if result["passed"] else "**FAIL**"
        lines.append(f"- {mark}: {result['message']}")
    if not facts.gates.get("results"):
        lines.append("- no gates configured")
    lines += ["", f"## Top features (mean |SHAP|, {facts.explanation_output})", ""]
    lines += [f"{i}. {name}: {value:.4f}" for i, (name, value) in enumerate(facts.top_features, start=1)]
    lines += ["", "## Limitations", ""]
    limitations = list(facts.limitations) or [
        "Scores hold for data drawn like the training data; monitor drift before trusting them elsewhere.",
        "Categories not seen in training are grouped as 'rare'; absent fields are imputed as in training.",
    ]
    lines += [f"- {item}" for item in limitations]
    lines += ["", "## Lineage", "", "| | |", "|---|---|"]
    lines += [f"| {key} | `{value}` |" for key, value in facts.lineage.items()]
    return "\n".join(lines) + "\n"
