"""Model stages in the MLflow registry, with an append-only audit trail.

MLflow 3 has no stages (its stage lookups return nothing), so a version's stage is a tag
(``stage`` = none | staging | production | archived) and the two live stages are aliases:
``challenger`` (staging) and ``champion`` (production). At most one version holds each; moving a
version into a stage archives the previous holder. Every transition is appended to the
registered model's tags as ``audit.NNNN`` (JSON: who, when, from, to, reason, metrics) and never
rewritten; the caller mirrors the same events to ZenML's Model Control Plane.
"""

from __future__ import annotations

import contextlib
import getpass
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from mlflow.tracking import MlflowClient

from tabular_mlops.errors import ModelNotFoundError, TabularMLOpsError

STAGES = ("none", "staging", "production", "archived")
ALIASES = {"staging": "challenger", "production": "champion"}
AUDIT_PREFIX = "audit."


class PromotionError(TabularMLOpsError):
    """A transition that the review rules do not allow."""


@dataclass
class AuditEvent:
    """One stage change of one version."""

    sequence: int
    version: str
    from_stage: str
    to_stage: str
    actor: str
    reason: str
    at: str
    metrics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def current_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def stage_of(name: str, version: str, client: MlflowClient | None = None) -> str:
    client = client or MlflowClient()
    try:
        tags = client.get_model_version(name, str(version)).tags
    except Exception as exc:
        raise ModelNotFoundError(f"Model '{name}' has no version {version} in the MLflow registry.") from exc
    return str(tags.get("stage", "none"))


def versions_in(name: str, stage: str, client: MlflowClient | None = None) -> list[str]:
    client = client or MlflowClient()
    found = client.search_model_versions(f"name = '{name}'")
    return sorted((str(v.version) for v in found if v.tags.get("stage", "none") == stage), key=int)


def audit_trail(name: str, client: MlflowClient | None = None) -> list[AuditEvent]:
    """Every recorded transition of ``name``'s versions, oldest first."""
    client = client or MlflowClient()
    tags = client.get_registered_model(name).tags
    events = [AuditEvent(**json.loads(v)) for k, v in tags.items() if k.startswith(AUDIT_PREFIX)]
    return sorted(events, key=lambda e: e.sequence)


def transition(
    name: str,
    version: str,
    to_stage: str,
    reason: str,
    actor: str | None = None,
    metrics: dict[str, float] | None = None,
    client: MlflowClient | None = None,
) -> list[AuditEvent]:
    """Move ``version`` to ``to_stage`` (archiving the stage's previous holder); return the events."""
    if to_stage not in STAGES:
        raise PromotionError(f"Unknown stage '{to_stage}'; stages are {list(STAGES)}.")
    client = client or MlflowClient()
    actor = actor or current_actor()
    version = str(version)
    events = []
    if to_stage in ALIASES:
        for other in versions_in(name, to_stage, client):
            if other != version:
                events.append(_move(client, name, other, "archived", actor, f"replaced by version {version}: {reason}"))
    events.append(_move(client, name, version, to_stage, actor, reason, metrics))
    return events


def _move(
    client: MlflowClient,
    name: str,
    version: str,
    to_stage: str,
    actor: str,
    reason: str,
    metrics: dict[str, float] | None = None,
) -> AuditEvent:
    from_stage = stage_of(name, version, client)
    if from_stage in ALIASES and from_stage != to_stage:
        with contextlib.suppress(Exception):  # the alias may already point elsewhere
            client.delete_registered_model_alias(name, ALIASES[from_stage])
    if to_stage in ALIASES:
        client.set_registered_model_alias(name, ALIASES[to_stage], version)
    client.set_model_version_tag(name, version, "stage", to_stage)
    previous = audit_trail(name, client)
    event = AuditEvent(
        sequence=(previous[-1].sequence + 1) if previous else 1,
        version=version,
        from_stage=from_stage,
        to_stage=to_stage,
        actor=actor,
        reason=reason,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        metrics=dict(metrics or {}),
    )
    client.set_registered_model_tag(name, f"{AUDIT_PREFIX}{event.sequence:04d}", event.to_json())
    client.set_model_version_tag(name, version, "stage_reason", reason[:4000])
    return event


def approve(name: str, version: str, reason: str, actor: str | None = None) -> list[AuditEvent]:
    """Manual review: a staging version goes to production; the previous production is archived."""
    stage = stage_of(name, version)
    if stage != "staging":
        raise PromotionError(
            f"Version {version} of '{name}' is at stage '{stage}'; only a staging version (one that passed "
            "its gates) can be approved. See `python run.py models`."
        )
    if not reason.strip():
        raise PromotionError('An approval needs a reason (--reason "..."): it goes into the audit trail.')
    return transition(name, version, "production", reason, actor, metrics=version_metrics(name, version))


def reject(name: str, version: str, reason: str, actor: str | None = None) -> list[AuditEvent]:
    """Manual review: a staging version is sent back to stage none; production is untouched."""
    stage = stage_of(name, version)
    if stage != "staging":
        raise PromotionError(
            f"Version {version} of '{name}' is at stage '{stage}'; only a staging version can be rejected."
        )
    if not reason.strip():
        raise PromotionError('A rejection needs a reason (--reason "..."): it goes into the audit trail.')
    return transition(name, version, "none", f"rejected: {reason}", actor, metrics=version_metrics(name, version))


def version_metrics(name: str, version: str) -> dict[str, float]:
    tags = MlflowClient().get_model_version(name, str(version)).tags
    metrics = {}
    for key, value in tags.items():
        if key.startswith("test_"):
            try:
                metrics[key] = float(value)
            except ValueError:
                continue
    return metrics


def models_table(name: str) -> pd.DataFrame:
    """One row per version: stage, alias, family, headline test metrics, gates, last transition."""
    client = MlflowClient()
    versions = client.search_model_versions(f"name = '{name}'")
    if not versions:
        raise ModelNotFoundError(f"No registered model named '{name}'; train one with `python run.py train`.")
    aliases: dict[str, list[str]] = {}
    for alias, holder in (client.get_registered_model(name).aliases or {}).items():
        aliases.setdefault(str(holder), []).append(alias)
    last: dict[str, AuditEvent] = {}
    for event in audit_trail(name, client):
        last[event.version] = event
    rows: list[dict[str, Any]] = []
    for v in sorted(versions, key=lambda v: int(v.version)):
        tags = v.tags
        metrics = {
            k.removeprefix("test_"): float(val) for k, val in tags.items() if k.startswith("test_") and _is_number(val)
        }
        headline: dict[str, Any] = {
            k: round(metrics[k], 4) for k in ("roc_auc", "f1", "accuracy", "rmse", "r2") if k in metrics
        }
        latest = last.get(str(v.version))
        rows.append(
            {
                "version": int(v.version),
                "stage": tags.get("stage", "none"),
                "alias": ",".join(aliases.get(str(v.version), [])),
                "family": tags.get("family", ""),
                **headline,
                "gates": tags.get("gates", ""),
                "created": datetime.fromtimestamp(v.creation_timestamp / 1000, UTC).strftime("%Y-%m-%d %H:%M"),
                "last change": f"{latest.at[:16]} {latest.actor}: {latest.reason}" if latest else "",
            }
        )
    return pd.DataFrame(rows)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
