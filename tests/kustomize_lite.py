"""A small, typed kustomize renderer: enough of ``kubectl kustomize`` for deploy/k8s, in pure Python.

The manifest tests render every overlay with it on machines without ``kubectl``, and compare it with the
real ``kubectl kustomize`` where that is on PATH. Supported (with kustomize v5's semantics):

- ``resources``: YAML files (several documents each) and directories holding a kustomization;
- ``namespace`` (namespaced kinds only; ServiceAccount subjects of bindings follow, as kustomize does);
- ``labels`` (``pairs``, ``includeSelectors``, ``includeTemplates``) and ``commonLabels``;
- ``commonAnnotations``;
- ``images`` (``name``, ``newName``, ``newTag``, ``digest``) on every ``containers`` / ``initContainers``;
- ``patches``: strategic merge patches (built-in kinds: the merge keys of the Kubernetes API for the lists
  that have them, ``$patch: delete|replace``; custom resources: JSON merge patch) and JSON 6902 patches,
  inline or from a file, selected by the patch itself or by ``target`` (group, version, kind, name as a
  regular expression, namespace, labelSelector);
- ``configMapGenerator`` (``files``, ``literals``, ``envs``, ``options``) and ``generatorOptions``, with
  kustomize's content-hash name suffix, and the references to a generated ConfigMap in pod specs renamed.

Anything else in a kustomization (namePrefix, secretGenerator, replacements, components, ...) raises
``UnsupportedKustomizationError`` instead of being ignored, so a manifest change that needs more fails loudly.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "namespace",
        "labels",
        "commonLabels",
        "commonAnnotations",
        "images",
        "patches",
        "configMapGenerator",
        "generatorOptions",
    }
)
# API groups whose kinds take strategic merge patches; anything else is a custom resource (JSON merge patch).
BUILT_IN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
        "scheduling.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "node.k8s.io",
        "apiextensions.k8s.io",
        "admissionregistration.k8s.io",
        "certificates.k8s.io",
    }
)
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "CSIDriver",
        "CSINode",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "APIService",
        "VolumeAttachment",
        "CertificateSigningRequest",
        "ComponentStatus",
    }
)
# Strategic merge: the merge key of the API's keyed lists (by field name; `ports` is keyed by containerPort in
# a container and by port in a Service). Lists not named here are replaced, as the API declares them atomic.
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "env": ("name",),
    "ports": ("containerPort", "port"),
    "imagePullSecrets": ("name",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey",),
    "resourceClaims": ("name",),
}
# Where pod templates live, for template labels and ConfigMap references.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# kustomize's templateLabels field specs (metadata labels of pod templates; created when absent).
TEMPLATE_LABEL_PATHS: tuple[tuple[str, str], ...] = (
    ("ReplicationController", "spec/template/metadata/labels"),
    ("Deployment", "spec/template/metadata/labels"),
    ("ReplicaSet", "spec/template/metadata/labels"),
    ("DaemonSet", "spec/template/metadata/labels"),
    ("StatefulSet", "spec/template/metadata/labels"),
    ("Job", "spec/template/metadata/labels"),
    ("CronJob", "spec/jobTemplate/metadata/labels"),
    ("CronJob", "spec/jobTemplate/spec/template/metadata/labels"),
)
# kustomize's commonLabels selector field specs: (kind, path, create when absent).
SELECTOR_LABEL_PATHS: tuple[tuple[str, str, bool], ...] = (
    ("Service", "spec/selector", True),
    ("ReplicationController", "spec/selector", True),
    ("Deployment", "spec/selector/matchLabels", True),
    ("ReplicaSet", "spec/selector/matchLabels", True),
    ("DaemonSet", "spec/selector/matchLabels", True),
    ("StatefulSet", "spec/selector/matchLabels", True),
    ("StatefulSet", "spec/volumeClaimTemplates/metadata/labels", True),
    ("Job", "spec/selector/matchLabels", False),
    ("CronJob", "spec/jobTemplate/spec/selector/matchLabels", False),
    ("PodDisruptionBudget", "spec/selector/matchLabels", False),
    ("NetworkPolicy", "spec/podSelector/matchLabels", False),
    ("NetworkPolicy", "spec/ingress/from/podSelector/matchLabels", False),
    ("NetworkPolicy", "spec/egress/to/podSelector/matchLabels", False),
    *(
        (kind, f"spec/template/spec/{path}", False)
        for kind in ("Deployment", "StatefulSet")
        for path in (
            "affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
            "affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
            "affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
            "affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
            "topologySpreadConstraints/labelSelector/matchLabels",
        )
    ),
)


class KustomizeError(Exception):
    """A kustomization that cannot be rendered: a missing file, a patch that matches nothing, ..."""


class UnsupportedKustomizationError(KustomizeError):
    """A kustomization uses a feature this renderer does not implement."""


@dataclass
class Item:
    """One resource of a build, with the name it had before a generator's hash suffix."""

    obj: Resource
    original_name: str
    generated: bool = False

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def group(self) -> str:
        return group_of(self.obj)

    @property
    def namespace(self) -> str:
        return str(self.obj.get("metadata", {}).get("namespace") or "")


def group_of(obj: Resource) -> str:
    api_version = str(obj.get("apiVersion", ""))
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def version_of(obj: Resource) -> str:
    return str(obj.get("apiVersion", "")).rsplit("/", 1)[-1]


# ------------------------------------------------------------------------------------------- entry points
def render(path: str | Path) -> list[Resource]:
    """The resources of the kustomization in directory ``path``, fully transformed."""
    return [item.obj for item in _build(Path(path).resolve(), ())]


def render_yaml(path: str | Path) -> str:
    """``render`` as one multi-document YAML stream (keys sorted, like ``kubectl kustomize``)."""
    return "---\n".join(yaml.safe_dump(obj, sort_keys=True, default_flow_style=False) for obj in render(path))


def load_yaml_documents(path: Path) -> list[Resource]:
    """The non-empty documents of a YAML file; each must be a Kubernetes object (a mapping with a kind)."""
    documents: list[Resource] = []
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if document is None:
            continue
        if not isinstance(document, dict) or "kind" not in document or "apiVersion" not in document:
            raise KustomizeError(f"{path}: every document must be a Kubernetes object with apiVersion and kind")
        documents.append(document)
    return documents


# ----------------------------------------------------------------------------------------------- building
def _kustomization_file(directory: Path) -> Path:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    raise KustomizeError(f"{directory}: no kustomization.yaml")


def _build(directory: Path, stack: tuple[Path, ...]) -> list[Item]:
    if directory in stack:
        raise KustomizeError(f"cycle in kustomization resources: {' -> '.join(map(str, (*stack, directory)))}")
    kustomization_path = _kustomization_file(directory)
    kustomization = yaml.safe_load(kustomization_path.read_text(encoding="utf-8")) or {}
    if not isinstance(kustomization, dict):
        raise KustomizeError(f"{kustomization_path}: not a mapping")
    unsupported = sorted(set(kustomization) - SUPPORTED_FIELDS)
    if unsupported:
        raise UnsupportedKustomizationError(f"{kustomization_path}: unsupported field(s) {unsupported}")

    items: list[Item] = []
    for entry in kustomization.get("resources") or []:
        target = (directory / str(entry)).resolve()
        if target.is_dir():
            items.extend(_build(target, (*stack, directory)))
        elif target.is_file():
            items.extend(Item(doc, str(doc.get("metadata", {}).get("name", ""))) for doc in load_yaml_documents(target))
        else:
            raise KustomizeError(f"{kustomization_path}: resource {entry!r} does not exist")
    generated = _generate_config_maps(directory, kustomization)
    items.extend(generated)
    _check_unique(items, kustomization_path)

    # kustomize's order of built-in transformers: patches, namespace, labels, annotations, images.
    for patch in kustomization.get("patches") or []:
        _apply_patch(items, directory, patch)
    if kustomization.get("namespace"):
        _set_namespace(items, str(kustomization["namespace"]))
    if kustomization.get("commonLabels"):
        _add_labels(items, dict(kustomization["commonLabels"]), selectors=True, templates=True)
    for entry in kustomization.get("labels") or []:
        _add_labels(
            items,
            dict(entry.get("pairs") or {}),
            selectors=bool(entry.get("includeSelectors", False)),
            templates=bool(entry.get("includeTemplates", False)) or bool(entry.get("includeSelectors", False)),
        )
    if kustomization.get("commonAnnotations"):
        _add_annotations(items, dict(kustomization["commonAnnotations"]))
    for image in kustomization.get("images") or []:
        _set_image(items, dict(image))
    for item in generated:
        if item.generated:
            item.obj["metadata"]["name"] = f"{item.original_name}-{config_map_hash(item.obj)}"
    _rename_config_map_references(items)
    return items


def _check_unique(items: list[Item], where: Path) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for item in items:
        key = (item.group, item.kind, item.namespace, item.original_name)
        if key in seen:
            raise KustomizeError(f"{where}: {item.kind} {item.namespace}/{item.original_name} is defined twice")
        seen.add(key)


# -------------------------------------------------------------------------------------------- generators
def _generate_config_maps(directory: Path, kustomization: Resource) -> list[Item]:
    options = dict(kustomization.get("generatorOptions") or {})
    unknown = set(options) - {"disableNameSuffixHash", "labels", "annotations", "immutable"}
    if unknown:
        raise UnsupportedKustomizationError(f"generatorOptions: unsupported {sorted(unknown)}")
    items: list[Item] = []
    for spec in kustomization.get("configMapGenerator") or []:
        unknown = set(spec) - {"name", "namespace", "files", "literals", "envs", "options", "behavior"}
        if unknown:
            raise UnsupportedKustomizationError(f"configMapGenerator: unsupported {sorted(unknown)}")
        if spec.get("behavior", "create") != "create":
            raise UnsupportedKustomizationError("configMapGenerator: only behavior: create is supported")
        data: dict[str, str] = {}
        for entry in spec.get("files") or []:
            key, _, source = str(entry).rpartition("=")
            path = directory / source
            if not path.is_file():
                raise KustomizeError(f"configMapGenerator {spec['name']}: file {source!r} does not exist")
            data[key or path.name] = path.read_text(encoding="utf-8")
        for entry in spec.get("literals") or []:
            key, _, value = str(entry).partition("=")
            data[key] = value
        for env_file in spec.get("envs") or []:
            for line in (directory / str(env_file)).read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    key, _, value = line.partition("=")
                    data[key.strip()] = value
        merged = {**options, **dict(spec.get("options") or {})}
        metadata: Resource = {"name": str(spec["name"])}
        if spec.get("namespace"):
            metadata["namespace"] = str(spec["namespace"])
        if merged.get("labels"):
            metadata["labels"] = dict(merged["labels"])
        if merged.get("annotations"):
            metadata["annotations"] = dict(merged["annotations"])
        obj: Resource = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}
        if merged.get("immutable"):
            obj["immutable"] = True
        items.append(Item(obj, str(spec["name"]), generated=not merged.get("disableNameSuffixHash", False)))
    return items


def _go_json(value: Any) -> str:
    """``json.Marshal`` of Go: sorted keys, no spaces, <, > and & escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def config_map_hash(obj: Resource) -> str:
    """kustomize's name suffix of a generated ConfigMap: its kind and data, hashed and encoded. (kustomize's
    hasher means to include the name too, but looks it up as one field called "metadata/name", finds nothing
    and hashes ""; so does this.)"""
    encoded: Resource = {"kind": "ConfigMap", "name": "", "data": obj.get("data") or {}}
    if obj.get("binaryData"):
        encoded["binaryData"] = obj["binaryData"]
    digest = hashlib.sha256(_go_json(encoded).encode("utf-8")).hexdigest()
    return digest[:10].translate(str.maketrans("013ae", "ghkmt"))


# --------------------------------------------------------------------------------------------- patches
def _apply_patch(items: list[Item], directory: Path, spec: Resource) -> None:
    unknown = set(spec) - {"path", "patch", "target", "options"}
    if unknown:
        raise UnsupportedKustomizationError(f"patches: unsupported {sorted(unknown)}")
    if "path" in spec:
        path = directory / str(spec["path"])
        if not path.is_file():
            raise KustomizeError(f"patch file {spec['path']!r} does not exist")
        text = path.read_text(encoding="utf-8")
    elif "patch" in spec:
        text = str(spec["patch"])
    else:
        raise KustomizeError("a patch needs `path` or `patch`")
    documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    target = spec.get("target")
    if len(documents) == 1 and isinstance(documents[0], list):  # JSON 6902
        if not target:
            raise KustomizeError("a JSON 6902 patch needs a target")
        matched = [item for item in items if _matches_target(item, dict(target))]
        if not matched:
            raise KustomizeError(f"patch target {target} matches no resource")
        for item in matched:
            item.obj = apply_json6902(item.obj, documents[0])
        return
    for document in documents:
        if not isinstance(document, dict):
            raise KustomizeError(f"a strategic merge patch must be a mapping: {document!r}")
        if target:
            matched = [item for item in items if _matches_target(item, dict(target))]
        else:
            matched = [item for item in items if _matches_patch(item, document)]
        if not matched:
            name = document.get("metadata", {}).get("name")
            raise KustomizeError(f"patch for {document.get('kind')} {name!r} matches no resource")
        for item in matched:
            patched = merge_patch(item.obj, document, strategic=item.group in BUILT_IN_GROUPS)
            if patched is None:
                items.remove(item)
            else:
                item.obj = patched


def _matches_patch(item: Item, patch: Resource) -> bool:
    metadata = patch.get("metadata") or {}
    if patch.get("kind") != item.kind or metadata.get("name") != item.original_name:
        return False
    if "apiVersion" in patch and group_of(patch) != item.group:
        return False
    return not metadata.get("namespace") or metadata["namespace"] == item.namespace


def _matches_target(item: Item, target: Resource) -> bool:
    unknown = set(target) - {"group", "version", "kind", "name", "namespace", "labelSelector"}
    if unknown:
        raise UnsupportedKustomizationError(f"patch target: unsupported {sorted(unknown)}")
    checks: list[tuple[str, str]] = [
        ("group", item.group),
        ("version", version_of(item.obj)),
        ("kind", item.kind),
        ("name", item.original_name),
        ("namespace", item.namespace),
    ]
    for key, actual in checks:
        if key in target and not re.fullmatch(str(target[key]), actual):
            return False
    if "labelSelector" in target:
        labels = item.obj.get("metadata", {}).get("labels") or {}
        for requirement in str(target["labelSelector"]).split(","):
            key, _, value = requirement.partition("=")
            if labels.get(key.strip()) != value.strip():
                return False
    return True


def merge_patch(base: Any, patch: Any, strategic: bool) -> Any:
    """``patch`` applied to ``base``: a strategic merge patch (built-in kinds) or an RFC 7386 merge patch.
    Returns None when the patch deletes the whole object (``$patch: delete``)."""
    return _merge(copy.deepcopy(base), copy.deepcopy(patch), strategic, field="")


def _merge(base: Any, patch: Any, strategic: bool, field: str) -> Any:
    if isinstance(patch, dict):
        directive = patch.pop("$patch", None) if strategic else None
        if directive == "delete":
            return None
        if directive == "replace":
            return patch
        if directive not in (None, "merge"):
            raise UnsupportedKustomizationError(f"$patch: {directive}")
        if not isinstance(base, dict):
            base = {}
        for key, value in patch.items():
            if value is None:
                base.pop(key, None)
            elif key in base:
                merged = _merge(base[key], value, strategic, key)
                if merged is None:
                    base.pop(key)
                else:
                    base[key] = merged
            else:
                base[key] = _strip_directives(value)
        return base
    if isinstance(patch, list) and strategic and isinstance(base, list) and field in MERGE_KEYS:
        return _merge_keyed_list(base, patch, MERGE_KEYS[field], field)
    return _strip_directives(patch)


def _merge_keyed_list(base: list[Any], patch: list[Any], keys: tuple[str, ...], field: str) -> list[Any]:
    """A keyed list merged as kustomize (kyaml) does: the patch's items first, in the patch's order (merged into
    the base item with the same key, if any), then the base items the patch does not name, in their order."""
    remaining = list(base)
    result: list[Any] = []
    for entry in patch:
        if not isinstance(entry, dict):
            raise KustomizeError(f"strategic merge: {field} items must be mappings")
        key = next((k for k in keys if k in entry), None)
        if key is None:
            raise KustomizeError(f"strategic merge: an item of {field} lacks its merge key {keys}")
        index = next(
            (i for i, old in enumerate(remaining) if isinstance(old, dict) and old.get(key) == entry[key]), None
        )
        old_item = remaining.pop(index) if index is not None else None
        if entry.get("$patch") == "delete":
            continue
        result.append(_strip_directives(entry) if old_item is None else _merge(old_item, entry, True, field))
    return result + remaining


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if k != "$patch"}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer must start with '/': {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _resolve(document: Any, parts: list[str], path: str) -> Any:
    node = document
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KustomizeError(f"JSON patch: path {path!r} does not exist")
    return node


def apply_json6902(document: Resource, operations: list[Any]) -> Resource:
    """RFC 6902 operations (add, remove, replace, move, copy, test) applied to a copy of ``document``."""
    result: Any = copy.deepcopy(document)
    for operation in operations:
        op, path = operation.get("op"), str(operation.get("path", ""))
        parts = _pointer(path)
        if op == "test":
            if _resolve(result, parts, path) != operation.get("value"):
                raise KustomizeError(f"JSON patch: test of {path!r} failed")
            continue
        if op in ("move", "copy"):
            source = _pointer(str(operation["from"]))
            value = copy.deepcopy(_resolve(result, source, str(operation["from"])))
            if op == "move":
                _remove(result, source, str(operation["from"]))
            _add(result, parts, value, path)
        elif op == "add":
            _add(result, parts, copy.deepcopy(operation["value"]), path)
        elif op == "remove":
            _remove(result, parts, path)
        elif op == "replace":
            _resolve(result, parts, path)  # must exist
            _remove(result, parts, path)
            _add(result, parts, copy.deepcopy(operation["value"]), path)
        else:
            raise KustomizeError(f"JSON patch: unknown op {op!r}")
    if not isinstance(result, dict):
        raise KustomizeError("JSON patch replaced the whole object with a non-object")
    return result


def _add(document: Any, parts: list[str], value: Any, path: str) -> None:
    if not parts:
        raise KustomizeError("JSON patch: cannot add at the root")
    parent = _resolve(document, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise KustomizeError(f"JSON patch: bad list index in {path!r}")
    else:
        raise KustomizeError(f"JSON patch: parent of {path!r} is not a container")


def _remove(document: Any, parts: list[str], path: str) -> None:
    parent = _resolve(document, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        parent.pop(int(last))
    else:
        raise KustomizeError(f"JSON patch: path {path!r} does not exist")


# ------------------------------------------------------------------------------------------ transformers
def _set_namespace(items: list[Item], namespace: str) -> None:
    service_accounts = {
        (item.original_name, item.namespace): item for item in items if item.kind == "ServiceAccount" and not item.group
    }
    before = {id(item): item.namespace for item in items}
    for item in items:
        if item.kind in CLUSTER_SCOPED_KINDS:
            continue
        item.obj.setdefault("metadata", {})["namespace"] = namespace
    for item in items:
        if item.kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        for subject in item.obj.get("subjects") or []:
            if subject.get("kind") != "ServiceAccount":
                continue
            if subject.get("name") == "default":
                subject["namespace"] = namespace
                continue
            account = service_accounts.get((subject.get("name", ""), subject.get("namespace", "")))
            if account is None and not subject.get("namespace"):
                account = next(
                    (sa for (name, _), sa in service_accounts.items() if name == subject.get("name")),
                    None,
                )
            if account is not None and before[id(account)] == subject.get("namespace", before[id(account)]):
                subject["namespace"] = account.namespace


def _walk_path(node: Any, parts: list[str], create: bool, visit: Callable[[dict[str, Any]], None]) -> None:
    """Call ``visit`` on every mapping at ``parts`` below ``node``, stepping through lists on the way."""
    if isinstance(node, list):
        for element in node:
            _walk_path(element, parts, create, visit)
        return
    if not isinstance(node, dict):
        return
    if not parts:
        visit(node)
        return
    head, rest = parts[0], parts[1:]
    if head not in node or node[head] is None:
        if not create:
            return
        node[head] = {}
    _walk_path(node[head], rest, create, visit)


def _add_labels(items: list[Item], labels: dict[str, Any], selectors: bool, templates: bool) -> None:
    text = {str(k): str(v) for k, v in labels.items()}

    def add(node: dict[str, Any]) -> None:
        node.update(text)

    for item in items:
        _walk_path(item.obj, ["metadata", "labels"], True, add)
        if templates:
            for kind, path in TEMPLATE_LABEL_PATHS:
                if item.kind == kind:
                    _walk_path(item.obj, path.split("/"), True, add)
        if selectors:
            for kind, path, create in SELECTOR_LABEL_PATHS:
                if item.kind == kind:
                    _walk_path(item.obj, path.split("/"), create, add)


def _add_annotations(items: list[Item], annotations: dict[str, Any]) -> None:
    text = {str(k): str(v) for k, v in annotations.items()}

    def add(node: dict[str, Any]) -> None:
        node.update(text)

    for item in items:
        _walk_path(item.obj, ["metadata", "annotations"], True, add)
        for kind, path in TEMPLATE_LABEL_PATHS:
            if item.kind == kind:
                _walk_path(item.obj, path.replace("/labels", "/annotations").split("/"), True, add)


def split_image(image: str) -> tuple[str, str, str]:
    """``registry:5000/name:tag@sha256:...`` -> (``registry:5000/name``, ``tag``, ``sha256:...``)."""
    name, _, digest = image.partition("@")
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    """Every item of a ``containers`` / ``initContainers`` list anywhere below ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            yield from _containers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _containers(value)


def _set_image(items: list[Item], spec: Resource) -> None:
    unknown = set(spec) - {"name", "newName", "newTag", "digest"}
    if unknown:
        raise UnsupportedKustomizationError(f"images: unsupported {sorted(unknown)}")
    for item in items:
        for container in _containers(item.obj):
            if "image" not in container:
                continue
            name, tag, digest = split_image(str(container["image"]))
            if name != spec["name"]:
                continue
            name = str(spec.get("newName", name))
            if "newTag" in spec:
                tag, digest = str(spec["newTag"]), ""
            if "digest" in spec:
                tag, digest = "", str(spec["digest"])
            container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _pod_specs(item: Item) -> Iterator[dict[str, Any]]:
    path = POD_SPEC_PATHS.get(item.kind)
    if path is None:
        return
    node: Any = item.obj
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        yield node


def _rename_config_map_references(items: list[Item]) -> None:
    """Point pod specs at the suffixed names of generated ConfigMaps (same namespace), as kustomize does."""
    renamed = {
        (item.namespace, item.original_name): item.obj["metadata"]["name"]
        for item in items
        if item.kind == "ConfigMap" and item.generated
    }
    if not renamed:
        return
    for item in items:
        for spec in _pod_specs(item):

            def rename(ref: dict[str, Any], namespace: str = item.namespace) -> None:
                new = renamed.get((namespace, str(ref.get("name", ""))))
                if new:
                    ref["name"] = new

            for volume in spec.get("volumes") or []:
                if isinstance(volume.get("configMap"), dict):
                    rename(volume["configMap"])
                for source in (volume.get("projected") or {}).get("sources") or []:
                    if isinstance(source.get("configMap"), dict):
                        rename(source["configMap"])
            for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
                for env in container.get("env") or []:
                    ref = (env.get("valueFrom") or {}).get("configMapKeyRef")
                    if isinstance(ref, dict):
                        rename(ref)
                for env_from in container.get("envFrom") or []:
                    if isinstance(env_from.get("configMapRef"), dict):
                        rename(env_from["configMapRef"])
