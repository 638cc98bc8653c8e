"""Render the charts in charts/ with the real Helm SDK and check what comes out.

Shared by the chart tests: loading charts and their ci/ scenarios, rendering them the way
the controller does (values passed as JSON through helm-python, so numbers arrive as
float64), splitting the output into objects, and validating each object against the
Kubernetes OpenAPI schemas kubernetes-validate ships, against the LeaderWorkerSet CRD's
own schema, or against a small schema of the essential fields for the other custom
resources it does not know.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv_utils

from tests.karpenter.fetch_crds import LWS, fetch

REPO_ROOT = Path(__file__).resolve().parents[2]
CHARTS_DIR = REPO_ROOT / "charts"
CHART_NAMES = ("workspace-inference", "workspace-tuning", "workspace-rag", "modelsync")
LINT_KUBE_VERSION = "v1.33.0"

Manifest = dict[str, Any]


def _newest_kube_minor() -> str:
    newest = kv_utils.latest_version()
    return ".".join(newest.split(".")[:2])


# The oldest minor the project supports and the newest kubernetes-validate knows.
KUBE_VERSIONS = ("1.33", _newest_kube_minor())


@dataclass(frozen=True)
class Scenario:
    """One ci/<name>-values.yaml file of a chart."""

    chart: str
    name: str
    path: Path

    @property
    def id(self) -> str:
        return f"{self.chart}:{self.name}"

    @property
    def values(self) -> dict[str, Any]:
        return load_yaml_file(self.path)

    @property
    def release(self) -> str:
        """The release name the controller would give it: the Workspace name."""
        workspace = self.values.get("workspace", {})
        return str(workspace.get("name") or self.chart)


@dataclass(frozen=True)
class Rendered:
    """The objects one render produced, in template order, plus NOTES.txt."""

    objects: list[Manifest]
    notes: str
    sources: dict[str, str] = field(repr=False)

    def all(self, kind: str) -> list[Manifest]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str) -> Manifest:
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, found {len(found)}"
        return found[0]

    def kinds(self) -> set[str]:
        return {obj["kind"] for obj in self.objects}


def load_yaml_file(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{path} is not a mapping"
    return loaded


@functools.cache
def chart(name: str) -> helm_python.Chart:
    """The loaded chart; helm-python charts are immutable and safe to share."""
    return helm_python.Chart.load(CHARTS_DIR / name)


def chart_dir(name: str) -> Path:
    return CHARTS_DIR / name


def scenarios(chart_name: str | None = None) -> list[Scenario]:
    names = CHART_NAMES if chart_name is None else (chart_name,)
    found = [
        Scenario(name, path.name.removesuffix("-values.yaml"), path)
        for name in names
        for path in sorted((CHARTS_DIR / name / "ci").glob("*-values.yaml"))
    ]
    assert found, f"no ci scenarios for {names}"
    return found


def scenario(chart_name: str, name: str) -> Scenario:
    path = CHARTS_DIR / chart_name / "ci" / f"{name}-values.yaml"
    assert path.is_file(), path
    return Scenario(chart_name, name, path)


def render(
    chart_name: str,
    values: dict[str, Any] | None = None,
    *,
    release: str = "demo",
    namespace: str = "ml",
) -> Rendered:
    sources = chart(chart_name).render(values, name=release, namespace=namespace)
    objects: list[Manifest] = []
    notes = ""
    for path, text in sources.items():
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        for doc in yaml.safe_load_all(text):
            if doc is not None:
                assert isinstance(doc, dict), f"{path} rendered a non-object document"
                objects.append(doc)
    return Rendered(objects, notes, sources)


def render_scenario(item: Scenario, *, namespace: str = "ml") -> Rendered:
    return render(item.chart, item.values, release=item.release, namespace=namespace)


def with_values(base: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A deep copy of base with top-level keys replaced (nested dicts merged one level)."""
    merged: dict[str, Any] = yaml.safe_load(yaml.safe_dump(base))
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


# --- pods -----------------------------------------------------------------------------


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def all_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def assert_locked_down(spec: dict[str, Any]) -> None:
    """Every container, init containers included: non-root, no escalation, read-only root,
    no capabilities, the runtime's default seccomp profile."""
    for item in all_containers(spec):
        context = item["securityContext"]
        assert context["runAsNonRoot"] is True, item["name"]
        assert context["allowPrivilegeEscalation"] is False, item["name"]
        assert context["readOnlyRootFilesystem"] is True, item["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, item["name"]
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, item["name"]


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    for item in all_containers(spec):
        if item["name"] == name:
            return item
    raise AssertionError(f"no container {name!r} in {[c['name'] for c in all_containers(spec)]}")


def env_of(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in item.get("env", [])}


def mounts_of(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {mount["mountPath"]: mount for mount in item.get("volumeMounts", [])}


def volumes_of(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {volume["name"]: volume for volume in spec.get("volumes", [])}


def configmap_text(rendered: Rendered, key: str) -> str:
    for configmap in rendered.all("ConfigMap"):
        if key in configmap.get("data", {}):
            return str(configmap["data"][key])
    raise AssertionError(f"no ConfigMap holds {key}")


def configmap_file(rendered: Rendered, key: str) -> Any:
    return yaml.safe_load(configmap_text(rendered, key))


# --- validation -----------------------------------------------------------------------

_METADATA = {
    "type": "object",
    "required": ["name", "namespace", "labels"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "namespace": {"type": "string", "minLength": 1},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_LABEL_SELECTOR = {
    "type": "object",
    "required": ["matchLabels"],
    "properties": {"matchLabels": {"type": "object", "minProperties": 1}},
}
_DURATION = {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"}

# Essential fields of the custom resources kubernetes-validate has no schema for, taken from
# the CRDs of prometheus-operator (monitoring.coreos.com/v1) and KEDA (keda.sh/v1alpha1).
CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "additionalProperties": False,
                "properties": {
                    "selector": _LABEL_SELECTOR,
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["port"],
                            "additionalProperties": False,
                            "properties": {
                                "port": {"type": "string", "minLength": 1},
                                "path": {"type": "string", "pattern": "^/"},
                                "interval": _DURATION,
                            },
                        },
                    },
                },
            },
        },
    },
    ("monitoring.coreos.com/v1", "PrometheusRule"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["groups"],
                "additionalProperties": False,
                "properties": {
                    "groups": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "rules": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["alert", "expr"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "alert": {"type": "string", "minLength": 1},
                                            "expr": {"type": "string", "minLength": 1},
                                            "for": _DURATION,
                                            "labels": {
                                                "type": "object",
                                                "additionalProperties": {"type": "string"},
                                            },
                                            "annotations": {
                                                "type": "object",
                                                "additionalProperties": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            },
        },
    },
    ("keda.sh/v1alpha1", "ScaledObject"): {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "additionalProperties": False,
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "name": {"type": "string", "minLength": 1},
                        },
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer", "minimum": 1},
                    "cooldownPeriod": {"type": "integer", "minimum": 0},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "properties": {
                                "type": {"type": "string"},
                                # KEDA trigger metadata is a map of strings.
                                "metadata": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


LEADER_WORKER_SET = ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")


@functools.cache
def lws_schema() -> dict[str, Any]:
    """The LeaderWorkerSet CRD's own openAPIV3Schema (LWS v0.8.0, tests/karpenter/fetch_crds.py)."""
    directory = fetch(LWS)
    crd = load_yaml_file(directory / LWS.crds[0])
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def validate(manifest: Manifest, kube_version: str) -> str:
    """Validate one object; returns what it was validated against.

    A LeaderWorkerSet is checked against its CRD's schema, and its leader and worker pod
    templates strictly as Kubernetes PodTemplates too (a CRD schema prunes unknown fields
    where a strict check refuses them).

    Raises jsonschema.ValidationError (kubernetes_validate.ValidationError is one).
    """
    key = (manifest["apiVersion"], manifest["kind"])
    if key == LEADER_WORKER_SET:
        jsonschema.Draft7Validator(lws_schema()).validate(manifest)
        group = manifest["spec"]["leaderWorkerTemplate"]
        for role in ("leaderTemplate", "workerTemplate"):
            template = {
                "apiVersion": "v1",
                "kind": "PodTemplate",
                "metadata": {"name": f"{manifest['metadata']['name']}-{role}"},
                "template": group[role],
            }
            kubernetes_validate.validate(template, kube_version, strict=True)
        return "crd-schema:LeaderWorkerSet"
    if key in CRD_SCHEMAS:
        jsonschema.Draft7Validator(CRD_SCHEMAS[key]).validate(manifest)
        return f"crd-schema:{key[1]}"
    return str(kubernetes_validate.validate(manifest, kube_version, strict=True))
