"""SeldonDeployment manifests: validation against the CRD's schema, strict about unknown fields."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tabular_mlops.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "schemas" / "seldondeployment-v1.schema.json"
# ObjectMeta fields a manifest may set (the CRD's schema leaves metadata open; the API server does not).
_METADATA_FIELDS = {"name", "generateName", "namespace", "labels", "annotations", "finalizers", "ownerReferences"}


def _close(schema: Any) -> Any:
    """Add ``additionalProperties: false`` wherever an object lists its properties and tolerates no more."""
    if isinstance(schema, dict):
        closed = {key: _close(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_close(item) for item in schema]
    return schema


@lru_cache(maxsize=1)
def load_crd_schema() -> dict[str, Any]:
    """The SeldonDeployment v1 schema, closed against unknown fields."""
    if not SCHEMA_PATH.is_file():
        raise ConfigError(
            f"The SeldonDeployment schema '{SCHEMA_PATH}' is missing; it ships in the project's "
            "deploy/k8s/schemas folder (run from a checkout of the project)."
        )
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema.pop("$comment", None)
    closed: dict[str, Any] = _close(schema)
    closed["properties"].pop("status", None)  # written by the operator, never by us
    return closed


def validate_seldon_deployment(manifest: dict[str, Any]) -> list[str]:
    """Every way ``manifest`` breaks the CRD's schema, as 'path: message' lines; empty when valid."""
    from jsonschema import Draft7Validator

    errors = [
        f"{'.'.join(str(part) for part in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(
            Draft7Validator(load_crd_schema()).iter_errors(copy.deepcopy(manifest)), key=lambda e: list(e.path)
        )
    ]
    if manifest.get("apiVersion") != "machinelearning.seldon.io/v1":
        errors.append(f"apiVersion: expected 'machinelearning.seldon.io/v1', got {manifest.get('apiVersion')!r}")
    if manifest.get("kind") != "SeldonDeployment":
        errors.append(f"kind: expected 'SeldonDeployment', got {manifest.get('kind')!r}")
    metadata = manifest.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name"):
        errors.append("metadata.name: required")
    else:
        errors.extend(
            f"metadata.{key}: unknown field (allowed: {sorted(_METADATA_FIELDS)})"
            for key in sorted(set(metadata) - _METADATA_FIELDS)
        )
    return errors


# ---------------------------------------------------------------------------- building manifests
# The SeldonDeployment of a model bundle served by the project's own Seldon component
# (deploy/seldon/TabularSeldonModel.py in a custom image). ``seldon_pod_spec`` and
# ``model_parameters`` are what the Seldon deployment step hands ZenML's Seldon model deployer
# (``SeldonDeploymentConfig(is_custom_deployment=True, spec=..., parameters=...)``);
# ``build_seldon_deployment`` wraps them in the same object the deployer sends, for review / GitOps.

SELDON_API_VERSION = "machinelearning.seldon.io/v1"
GRAPH_NODE = "classifier"  # ZenML's Seldon deployer names the graph node (and so the container) this
MODEL_MOUNT = "/mnt/models"
MODEL_VOLUME = "model-bundle"
SELDON_USER_ID = 8888  # Seldon Core's default non-root user
COMPONENT_COMMAND = ["seldon-core-microservice", "TabularSeldonModel", "--service-type", "MODEL"]
DEFAULT_STORAGE_INITIALIZER = "seldonio/rclone-storage-initializer:1.16.0"
DEFAULT_MANIFEST_PATH = "deploy/seldon/generated/{model_name}-seldondeployment.yaml"
_DNS_LABEL = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class HpaSettings:
    """``seldon.hpa`` of configs/deployment.yaml: a HorizontalPodAutoscaler on CPU use."""

    min_replicas: int = 1
    max_replicas: int = 3
    cpu_utilization: int = 70  # percent of the CPU request

    def __post_init__(self) -> None:
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ConfigError(
                f"seldon.hpa: need 1 <= min_replicas <= max_replicas, got {self.min_replicas}, {self.max_replicas}."
            )
        if not 1 <= self.cpu_utilization <= 100:
            raise ConfigError(f"seldon.hpa.cpu_utilization must be 1-100 (percent), got {self.cpu_utilization}.")


@dataclass(frozen=True)
class SeldonSettings:
    """``parameters.seldon`` of configs/deployment.yaml (see the comments there)."""

    image: str = "ghcr.io/your-org/tabular-mlops-seldon:0.1.0"
    namespace: str = "seldon"
    deployment_name: str = ""  # the GitOps manifest's name; default: the model's name
    replicas: int = 1
    resources: dict[str, dict[str, str]] = field(
        default_factory=lambda: {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        }
    )
    workers: int = 1
    threads: int = 1
    max_rows: int = 10_000
    unknown_fields: str = "reject"
    require_all_columns: bool = True
    storage_initializer_image: str = DEFAULT_STORAGE_INITIALIZER
    image_pull_secret: str = ""
    service_account: str = ""
    timeout: int = 300
    manifest_path: str = DEFAULT_MANIFEST_PATH
    no_engine: bool = True  # GitOps manifest: no Seldon executor sidecar (ZenML's deployer cannot say so)
    hpa: HpaSettings | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SeldonSettings:
        values = dict(data or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"Unknown seldon setting(s) {unknown}; known: {sorted(known)}.")
        hpa = values.pop("hpa", None)
        if hpa is not None:
            if not isinstance(hpa, dict):
                raise ConfigError("seldon.hpa must be a mapping (min_replicas, max_replicas, cpu_utilization) or null.")
            hpa_known = set(HpaSettings.__dataclass_fields__)
            if set(hpa) - hpa_known:
                raise ConfigError(
                    f"Unknown seldon.hpa setting(s) {sorted(set(hpa) - hpa_known)}; known: {sorted(hpa_known)}."
                )
            values["hpa"] = HpaSettings(**hpa)
        settings = cls(**values)
        if not settings.image or ":" not in settings.image.rsplit("/", 1)[-1]:
            raise ConfigError(f"seldon.image must name a tagged image (registry/name:tag), got {settings.image!r}.")
        if settings.replicas < 1 or settings.workers < 1 or settings.threads < 1 or settings.max_rows < 1:
            raise ConfigError("seldon.replicas, workers, threads and max_rows must be >= 1.")
        if settings.unknown_fields not in ("reject", "ignore"):
            raise ConfigError(f"seldon.unknown_fields must be 'reject' or 'ignore', not {settings.unknown_fields!r}.")
        if set(settings.resources) - {"requests", "limits"}:
            raise ConfigError(f"seldon.resources takes 'requests' and 'limits', got {sorted(settings.resources)}.")
        return settings


def dns_name(text: str, limit: int = 63) -> str:
    """``text`` as a Kubernetes DNS-1123 label (lower case, digits, '-'; at most ``limit`` characters)."""
    name = _DNS_LABEL.sub("-", text.lower()).strip("-")[:limit].strip("-")
    if not name:
        raise ConfigError(f"{text!r} has no letters or digits to build a Kubernetes name from.")
    return name


def model_parameters(settings: SeldonSettings) -> list[dict[str, str]]:
    """The Seldon graph parameters: keyword arguments of ``TabularSeldonModel`` (ZenML's parameter shape)."""
    return [
        {"name": "model_uri", "type": "STRING", "value": MODEL_MOUNT},
        {"name": "max_rows", "type": "INT", "value": str(settings.max_rows)},
        {"name": "unknown_fields", "type": "STRING", "value": settings.unknown_fields},
        {"name": "require_all_columns", "type": "BOOL", "value": str(settings.require_all_columns).lower()},
    ]


def _restricted(user: int = SELDON_USER_ID) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": user,
        "runAsGroup": user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def seldon_pod_spec(settings: SeldonSettings, model_uri: str, secret_name: str | None = None) -> dict[str, Any]:
    """The pod of the Seldon component: an init container that copies the bundle at ``model_uri``
    into an emptyDir (Seldon's rclone storage initializer, credentials from ``secret_name``), and
    the project's image running ``TabularSeldonModel`` on it, non-root with a read-only root."""
    init: dict[str, Any] = {
        "name": f"{GRAPH_NODE}-model-initializer",
        "image": settings.storage_initializer_image,
        "imagePullPolicy": "IfNotPresent",
        "args": [model_uri, MODEL_MOUNT],
        "env": [{"name": "HOME", "value": "/tmp"}],
        "resources": {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": _restricted(),
        "volumeMounts": [{"name": MODEL_VOLUME, "mountPath": MODEL_MOUNT}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    if secret_name:
        init["envFrom"] = [{"secretRef": {"name": secret_name, "optional": False}}]
    container = {
        "name": GRAPH_NODE,
        "image": settings.image,
        "imagePullPolicy": "IfNotPresent",
        "command": list(COMPONENT_COMMAND),
        "env": [
            {"name": "MODEL_DIR", "value": MODEL_MOUNT},
            {"name": "GUNICORN_WORKERS", "value": str(settings.workers)},
            {"name": "GUNICORN_THREADS", "value": str(settings.threads)},
        ],
        "resources": {key: dict(value) for key, value in settings.resources.items()},
        # Seldon's operator adds the named ports (http 9000, grpc, metrics 6000) to the graph's container.
        "readinessProbe": {
            "httpGet": {"path": "/health/status", "port": "http", "scheme": "HTTP"},
            "initialDelaySeconds": 5,
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/health/ping", "port": "http", "scheme": "HTTP"},
            "initialDelaySeconds": 20,
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "securityContext": _restricted(),
        "volumeMounts": [
            {"name": MODEL_VOLUME, "mountPath": MODEL_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # gunicorn's worker heartbeat files
        ],
    }
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SELDON_USER_ID,
            "runAsGroup": SELDON_USER_ID,
            "fsGroup": SELDON_USER_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": [init],
        "containers": [container],
        "volumes": [
            {"name": MODEL_VOLUME, "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        ],
    }
    if settings.image_pull_secret:
        spec["imagePullSecrets"] = [{"name": settings.image_pull_secret}]
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    return spec


def predictor_replicas(settings: SeldonSettings) -> int:
    """Replicas to start with: ``settings.replicas``, raised to the autoscaler's minimum."""
    return max(settings.replicas, settings.hpa.min_replicas) if settings.hpa is not None else settings.replicas


def hpa_spec(hpa: HpaSettings) -> dict[str, Any]:
    """Seldon's ``hpaSpec`` (autoscaling/v2 metrics go under ``metricsv2``)."""
    return {
        "minReplicas": hpa.min_replicas,
        "maxReplicas": hpa.max_replicas,
        "metricsv2": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": hpa.cpu_utilization},
                },
            }
        ],
    }


def build_seldon_deployment(
    settings: SeldonSettings,
    *,
    model_uri: str,
    model_name: str,
    model_version: str,
    name: str | None = None,
    secret_name: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The ``SeldonDeployment`` serving the bundle at ``model_uri``: the predictor ZenML's Seldon
    deployer creates from ``seldon_pod_spec`` and ``model_parameters`` (same graph, pod, replicas),
    under a stable name for GitOps, plus what ZenML's deployer cannot send: ``hpaSpec`` when
    ``settings.hpa`` is set, and no executor (``seldon.io/no-engine``) when ``settings.no_engine``."""
    predictor_name = dns_name(model_name)
    name = dns_name(name or settings.deployment_name or predictor_name)
    component: dict[str, Any] = {"spec": seldon_pod_spec(settings, model_uri, secret_name)}
    if settings.hpa is not None:
        component["hpaSpec"] = hpa_spec(settings.hpa)
    replicas = predictor_replicas(settings)
    graph: dict[str, Any] = {"name": GRAPH_NODE, "type": "MODEL", "parameters": model_parameters(settings)}
    if settings.service_account:
        graph["serviceAccountName"] = settings.service_account
    predictor: dict[str, Any] = {"name": predictor_name, "replicas": replicas}
    if settings.no_engine:
        # A one-node graph needs no Seldon executor; the executor the operator would inject carries no
        # securityContext, which a namespace enforcing the `restricted` Pod Security level rejects.
        predictor["annotations"] = {"seldon.io/no-engine": "true"}
        graph["endpoint"] = {"type": "REST"}
    return {
        "apiVersion": SELDON_API_VERSION,
        "kind": "SeldonDeployment",
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": {
                "app.kubernetes.io/name": "tabular-mlops",
                "app.kubernetes.io/component": "seldon-model",
                "app.kubernetes.io/part-of": "tabular-mlops",
                "tabular-mlops/model": predictor_name,
                "tabular-mlops/model-version": dns_name(str(model_version)),
                **(labels or {}),
            },
            "annotations": {"tabular-mlops/model-uri": model_uri, **(annotations or {})},
        },
        "spec": {
            "name": name,
            "protocol": "seldon",
            "replicas": replicas,
            "predictors": [{**predictor, "graph": graph, "componentSpecs": [component]}],
        },
    }


def manifest_path(settings: SeldonSettings, model_name: str, model_version: str, root: Path | None = None) -> Path:
    """``settings.manifest_path`` with ``{model_name}`` / ``{model_version}`` filled in; relative paths
    are taken from ``root`` (the project root by default, not the working directory)."""
    path = Path(settings.manifest_path.format(model_name=dns_name(model_name), model_version=model_version))
    return path if path.is_absolute() else (root or Path(__file__).resolve().parents[2]) / path


def manifest_yaml(manifest: dict[str, Any]) -> str:
    """``manifest`` as YAML (key order kept), headed by a comment saying where it comes from."""
    import yaml

    header = (
        "# Generated by the Seldon deployment step (steps/seldon_deployment.py) from configs/deployment.yaml;\n"
        "# checked against the SeldonDeployment CRD schema (deploy/k8s/schemas). Apply: kubectl apply -f <this file>\n"
    )
    return header + yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)


def write_manifest(manifest: dict[str, Any], path: Path) -> Path:
    """Write ``manifest`` as YAML to ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(manifest_yaml(manifest), encoding="utf-8")
    return path
