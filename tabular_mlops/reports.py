"""Human-readable renderings (Markdown, self-contained HTML) for dashboards, MLflow and model cards."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from tabular_mlops.data.schema import DatasetSchema
from tabular_mlops.data.validation import ValidationReport

_STYLE = """
<style>
 body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;font-size:13px;color:#1f2937;margin:16px}
 h1{font-size:20px;margin:0 0 4px} h2{font-size:15px;margin:20px 0 6px}
 table{border-collapse:collapse;width:100%} th,td{border-bottom:1px solid #e5e7eb;padding:4px 6px;text-align:left;
 vertical-align:top} th{background:#f9fafb;font-weight:600}
 .badge{display:inline-block;padding:2px 8px;border-radius:10px;color:#fff;font-weight:600;font-size:12px}
 .error{background:#dc2626} .warning{background:#d97706} .info{background:#2563eb} .ok{background:#16a34a}
 .muted{color:#6b7280} .num{text-align:right;font-variant-numeric:tabular-nums}
 .hist{display:flex;align-items:flex-end;height:28px;gap:1px;width:120px}
 .hist div{background:#6366f1;flex:1;min-height:1px}
 .bar{background:#e5e7eb;height:10px;width:120px;position:relative} .bar div{background:#6366f1;height:10px}
 .bar.hot div{background:#dc2626}
</style>
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _histogram(counts: Sequence[int]) -> str:
    peak = max(counts) if counts else 0
    if not peak:
        return ""
    bars = "".join(f'<div style="height:{max(3, round(100 * c / peak))}%" title="{c}"></div>' for c in counts)
    return f'<div class="hist">{bars}</div>'


def _bar(share: float, hot: bool = False) -> str:
    width = max(0.0, min(1.0, share)) * 100
    return f'<div class="bar{" hot" if hot else ""}"><div style="width:{width:.0f}%"></div></div>'


def validation_html(report: ValidationReport, leakage_threshold: float | None = None) -> str:
    """The validation report as one self-contained HTML page (no scripts, no external files)."""
    verdict = '<span class="badge ok">PASSED</span>' if report.passed else '<span class="badge error">FAILED</span>'
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Data validation</title>",
        _STYLE,
        "</head><body>",
        f"<h1>Data validation {verdict}</h1>",
        f"<div class='muted'>{_e(report.source)} &middot; {report.n_rows:,} rows &middot; {report.n_columns} columns "
        f"&middot; target <b>{_e(report.target)}</b> ({_e(report.task)}) &middot; {len(report.errors)} error(s), "
        f"{len(report.warnings)} warning(s)</div>",
        "<h2>Findings</h2>",
    ]
    if report.findings:
        rows = "".join(
            f"<tr><td><span class='badge {_e(f.severity)}'>{_e(f.severity)}</span></td><td>{_e(f.check)}</td>"
            f"<td>{_e(f.column or '')}</td><td>{_e(f.message)}</td></tr>"
            for f in sorted(report.findings, key=lambda f: {"error": 0, "warning": 1}.get(f.severity, 2))
        )
        parts.append(f"<table><tr><th>severity</th><th>check</th><th>column</th><th>message</th></tr>{rows}</table>")
    else:
        parts.append("<p>No findings.</p>")
    parts.append("<h2>Target</h2>")
    target = report.target_stats
    if "class_counts" in target:
        total = sum(target["class_counts"].values())
        rows = "".join(
            f"<tr><td>{_e(k)}</td><td class='num'>{v:,}</td><td class='num'>{v / total:.1%}</td>"
            f"<td>{_bar(v / total)}</td></tr>"
            for k, v in target["class_counts"].items()
        )
        parts.append(f"<table><tr><th>class</th><th>rows</th><th>share</th><th></th></tr>{rows}</table>")
    elif "histogram" in target:
        parts.append(
            f"<p>mean {target['mean']:.4g}, std {target['std']:.4g}, range {target['min']:.4g} .. "
            f"{target['max']:.4g}</p>{_histogram(target['histogram']['counts'])}"
        )
    parts.append(
        "<h2>Columns</h2><p class='muted'>single-feature score: out-of-fold ROC AUC (R&sup2; for regression) of a "
        "small tree on that column alone; near 1.0 means the column leaks the target.</p>"
    )
    header = (
        "<tr><th>column</th><th>role</th><th>missing</th><th>unique</th><th>summary</th><th>distribution</th>"
        "<th>outliers</th><th>single-feature score</th></tr>"
    )
    rows_html = []
    for s in report.column_stats:
        if "mean" in s:
            summary = f"mean {s['mean']:.4g} &middot; median {s['median']:.4g}<br>{s['min']:.4g} .. {s['max']:.4g}"
            distribution = _histogram(s["histogram"]["counts"])
        elif "top_values" in s:
            summary = "<br>".join(
                f"{_e(k)} <span class='muted'>({v:,})</span>" for k, v in list(s["top_values"].items())[:4]
            )
            counts = list(s["top_values"].values())
            distribution = _histogram(counts)
        elif "min" in s:
            summary, distribution = f"{_e(s['min'])} .. {_e(s['max'])}", ""
        else:
            summary, distribution = "", ""
        score = s.get("single_feature_score")
        hot = score is not None and leakage_threshold is not None and score >= leakage_threshold
        score_html = f"{score:.3f} {_bar(score, hot)}" if score is not None else "<span class='muted'>-</span>"
        role = _e(s["role"]) if s["is_feature"] else f"<s>{_e(s['role'])}</s>"
        rows_html.append(
            f"<tr><td><b>{_e(s['column'])}</b></td>"
            f"<td>{role}<br><span class='muted'>{_e(s.get('reason', ''))}</span></td>"
            f"<td class='num'>{s['missing_share']:.1%}</td><td class='num'>{s['n_unique']:,}</td><td>{summary}</td>"
            f"<td>{distribution}</td><td class='num'>{s.get('outliers', '')}</td><td>{score_html}</td></tr>"
        )
    parts.append(f"<table>{header}{''.join(rows_html)}</table>")
    ingestion = report.ingestion
    if ingestion:
        tokens = ingestion.get("na_tokens") or {}
        token_text = "; ".join(
            f"{_e(c)}: {', '.join(f'{_e(t)} x{n}' for t, n in v.items())}" for c, v in tokens.items()
        )
        parts.append(
            f"<h2>File</h2><p>encoding <b>{_e(ingestion.get('encoding'))}</b>, delimiter "
            f"<b>{_e(repr(ingestion.get('delimiter')))}</b>, "
            f"sha256 <code>{_e(str(ingestion.get('sha256', ''))[:16])}</code>"
            f"<br>missing-value tokens found: {token_text or 'none'}</p>"
        )
    parts.append("</body></html>")
    return "".join(parts)


def schema_markdown(schema: DatasetSchema) -> str:
    lines = [
        f"# Dataset schema ({schema.task})",
        "",
        f"Target **{schema.target}**, {schema.n_rows} rows, {len(schema.feature_columns)} features "
        f"({len(schema.excluded_columns)} excluded), fingerprint `{schema.fingerprint()}`.",
    ]
    if schema.classes:
        classes = ", ".join(f"`{c}`" for c in schema.classes)
        positive = f"; positive class `{schema.positive_class}`." if schema.positive_class else "."
        lines.append(f"Classes: {classes}{positive}")
    lines += ["", "| column | role | why | missing | unique | range / categories |", "|---|---|---|---|---|---|"]
    for c in schema.columns:
        if c.role == "numeric" and c.minimum is not None and c.maximum is not None:
            detail = f"{c.minimum:g} .. {c.maximum:g}"
        elif c.categories:
            shown = ", ".join(c.categories[:8])
            detail = shown + (f" ... ({len(c.categories)} listed)" if len(c.categories) > 8 else "")
        else:
            detail = ""
        role = c.role if c.is_feature else f"~~{c.role}~~"
        why = ("config: " if c.overridden else "") + c.reason
        lines.append(f"| {c.name} | {role} | {why} | {c.missing_share:.1%} | {c.n_unique} | {detail} |")
    return "\n".join(lines) + "\n"


def metrics_markdown(title: str, metrics: Mapping[str, float]) -> str:
    lines = [f"# {title}", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4f} |" for k, v in sorted(metrics.items())]
    return "\n".join(lines) + "\n"


def table_markdown(title: str, table: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([f"# {title}", "", header, rule, *rows]) + "\n"
