"""The search as people read it: Optuna's history and parameter-importance plots, the selection table."""

from __future__ import annotations

import base64
import html
import io
import warnings
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import optuna
import pandas as pd

from tabular_mlops.models.training import TrainingResult


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def optuna_figures(study: optuna.Study) -> dict[str, bytes]:
    """PNG bytes of the optimisation history and (with enough trials) the parameter importances."""
    figures: dict[str, bytes] = {}
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return figures
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figure: Any = optuna.visualization.matplotlib.plot_optimization_history(study).figure
        figure.set_size_inches(8, 4)
        figures["optimization_history.png"] = _png(figure)
        if len(complete) >= 3:
            try:
                figure = optuna.visualization.matplotlib.plot_param_importances(study).figure
                figure.set_size_inches(8, 4)
                figures["param_importances.png"] = _png(figure)
            except (RuntimeError, ValueError, ZeroDivisionError):
                pass  # importances need parameters that vary across finished trials
    return figures


def tuning_html(result: TrainingResult, figures: dict[str, bytes]) -> str:
    """One self-contained page: the selection table, then the plots."""
    table: pd.DataFrame = result.selection_table()
    tuning = result.tuning
    summary = ""
    if tuning is not None:
        states = pd.Series([t.state for t in tuning.trials]).value_counts().to_dict()
        summary = (
            f"<p>{len(tuning.trials)} trials in {tuning.seconds:.0f} s ({html.escape(str(states))}), scored by "
            f"{html.escape(tuning.evaluation)} on {html.escape(tuning.metric.name)}. Selected: "
            f"<b>{html.escape(result.best_family)}</b>; refitted on {result.refit_rows:,} rows in "
            f"{result.refit_seconds:.1f} s.</p>"
        )
    images = "".join(
        f"<h2>{html.escape(name.removesuffix('.png').replace('_', ' '))}</h2>"
        f"<img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
        for name, data in figures.items()
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Model selection</title><style>"
        "body{font-family:sans-serif;font-size:13px;margin:16px} table{border-collapse:collapse}"
        "td,th{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left} img{max-width:100%}</style></head><body>"
        f"<h1>Model selection</h1>{summary}{table.to_html(index=False, border=0)}{images}</body></html>"
    )
