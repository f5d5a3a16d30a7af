"""Human-readable renderings (Markdown) of the project's objects, for dashboards and cards."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from tabular_mlops.data.schema import DatasetSchema


def schema_markdown(schema: DatasetSchema) -> str:
    lines = [
        f"# Dataset schema ({schema.task})",
        "",
        f"Target **{schema.target}**, {schema.n_rows} rows, {len(schema.columns)} features, "
        f"fingerprint `{schema.fingerprint()}`.",
    ]
    if schema.classes:
        classes = ", ".join(f"`{c}`" for c in schema.classes)
        lines.append(
            f"Classes: {classes}" + (f"; positive class `{schema.positive_class}`." if schema.positive_class else ".")
        )
    lines += ["", "| column | kind | dtype | missing | range / categories |", "|---|---|---|---|---|"]
    for c in schema.columns:
        if c.kind == "numeric":
            detail = f"{c.minimum:g} .. {c.maximum:g}" if c.minimum is not None and c.maximum is not None else ""
        else:
            shown = ", ".join(c.categories[:8])
            detail = shown + (f" ... ({len(c.categories)} listed)" if len(c.categories) > 8 else "")
        lines.append(f"| {c.name} | {c.kind} | {c.dtype} | {c.missing_share:.1%} | {detail} |")
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
