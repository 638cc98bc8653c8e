"""The emulated API server's resource catalog and its discovery documents.

Test support, below `kubeapi.py`: which resources the emulator serves (kinds, scope,
verbs), built once per Kubernetes version from two offline sources: kmock's bundled
discovery snapshot (scope, verbs, short names; no schemas) and the OpenAPI definitions
that `kubernetes-validate` ships (which group/version/kinds exist in that version). A
resource is served only when both agree, so discovery never names a kind the OpenAPI
documents lack.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kmock

JSON = dict[str, Any]

#: The Kubernetes version the emulator pretends to be unless told otherwise.
DEFAULT_KUBE_VERSION = "1.33.0"

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


@dataclass(frozen=True)
class ResourceType:
    """One served resource: what discovery says about a group/version/plural."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str
    verbs: tuple[str, ...]
    short_names: tuple[str, ...]
    categories: tuple[str, ...]
    subresources: tuple[str, ...]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The plural with its group, as the API server names it in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def version_priority(version: str) -> tuple[int, int, int]:
    """Sort key, highest first: GA over beta over alpha, then by number (Kubernetes' rule)."""
    match = _VERSION_RE.match(version)
    if match is None:
        return (0, 0, 0)
    major, stage, minor = match.groups()
    rank = {"alpha": 1, "beta": 2, None: 3}[stage]
    return (rank, int(major), int(minor or 0))


def definitions_path(kube_version: str) -> importlib.resources.abc.Traversable:
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    return root / f"v{kube_version}-local" / "_definitions.json"


@functools.cache
def load_definitions(kube_version: str) -> Mapping[str, JSON]:
    """kubernetes-validate's JSON-Schema rendering of the Kubernetes OpenAPI definitions."""
    document: JSON = json.loads(definitions_path(kube_version).read_text(encoding="utf-8"))
    definitions: dict[str, JSON] = document["$defs"]
    return definitions


@functools.cache
def kind_definitions(kube_version: str) -> Mapping[tuple[str, str, str], str]:
    """(group, version, kind) -> definition name, for every kind of this version."""
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in load_definitions(kube_version).items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            index.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return index


@dataclass(frozen=True)
class Catalog:
    """Every served resource of one Kubernetes version, with lookups and discovery docs."""

    kube_version: str
    resources: tuple[ResourceType, ...]

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_gvr.get((group, version, plural))

    def find_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        for resource in self.resources:
            if (resource.group, resource.version, resource.kind) == (group, version, kind):
                return resource
        return None

    @functools.cached_property
    def _by_gvr(self) -> Mapping[tuple[str, str, str], ResourceType]:
        return {(r.group, r.version, r.plural): r for r in self.resources}

    @functools.cached_property
    def group_versions(self) -> Mapping[str, tuple[str, ...]]:
        """Group -> its versions, preferred first (the core group is '')."""
        versions: dict[str, set[str]] = {}
        for resource in self.resources:
            versions.setdefault(resource.group, set()).add(resource.version)
        return {
            group: tuple(sorted(found, key=version_priority, reverse=True))
            for group, found in sorted(versions.items())
        }

    def version_info(self) -> JSON:
        major, minor, _ = self.kube_version.split(".")
        return {
            "major": major,
            "minor": minor,
            "gitVersion": f"v{self.kube_version}",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.24.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    def api_versions(self) -> JSON:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}

    def api_group(self, group: str) -> JSON:
        versions = [
            {"groupVersion": f"{group}/{v}", "version": v} for v in self.group_versions[group]
        ]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": versions,
            "preferredVersion": versions[0],
        }

    def api_group_list(self) -> JSON:
        groups = [self.api_group(group) for group in self.group_versions if group]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_resource_list(self, group: str, version: str) -> JSON | None:
        """The legacy per-group-version discovery document, or None when not served."""
        served = [r for r in self.resources if (r.group, r.version) == (group, version)]
        if not served:
            return None
        entries: list[JSON] = []
        for resource in served:
            entries.append(
                {
                    "name": resource.plural,
                    "singularName": resource.singular,
                    "namespaced": resource.namespaced,
                    "kind": resource.kind,
                    "verbs": list(resource.verbs),
                    "shortNames": list(resource.short_names),
                    "categories": list(resource.categories),
                }
            )
            for sub in resource.subresources:
                entries.append(
                    {
                        "name": f"{resource.plural}/{sub}",
                        "singularName": "",
                        "namespaced": resource.namespaced,
                        "kind": resource.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": served[0].api_version,
            "resources": entries,
        }

    def aggregated(self, *, core: bool, media_version: str) -> JSON:
        """The aggregated discovery document (apidiscovery.k8s.io) for /api or /apis."""
        items: list[JSON] = []
        for group, versions in self.group_versions.items():
            if (group == "") != core:
                continue
            items.append(
                {
                    "metadata": {"name": group, "creationTimestamp": None},
                    "versions": [
                        {
                            "version": version,
                            "resources": [
                                _aggregated_resource(r)
                                for r in self.resources
                                if (r.group, r.version) == (group, version)
                            ],
                            "freshness": "Current",
                        }
                        for version in versions
                    ],
                }
            )
        return {
            "kind": "APIGroupDiscoveryList",
            "apiVersion": f"apidiscovery.k8s.io/{media_version}",
            "metadata": {},
            "items": items,
        }


def _aggregated_resource(resource: ResourceType) -> JSON:
    kind = {"group": resource.group, "version": resource.version, "kind": resource.kind}
    return {
        "resource": resource.plural,
        "responseKind": kind,
        "scope": "Namespaced" if resource.namespaced else "Cluster",
        "singularResource": resource.singular,
        "verbs": list(resource.verbs),
        "shortNames": list(resource.short_names),
        "categories": list(resource.categories),
        "subresources": [
            {"subresource": sub, "responseKind": kind, "verbs": ["get", "patch", "update"]}
            for sub in resource.subresources
        ],
    }


@functools.cache
def build_catalog(kube_version: str = DEFAULT_KUBE_VERSION) -> Catalog:
    """The resources kmock's snapshot knows and this Kubernetes version defines."""
    snapshot = kmock.ResourcesArray()
    # What `snapshot.load_bundled()` reads, minus its deprecated importlib.resources call.
    bundled = importlib.resources.files("kmock._internal") / "resources.json.gz"
    snapshot.load_data(gzip.decompress(bundled.read_bytes()))
    kinds = kind_definitions(kube_version)
    served: list[ResourceType] = []
    for ref in snapshot:
        info = snapshot[ref]
        if ref.group is None or ref.version is None or ref.plural is None or info.kind is None:
            continue
        if (ref.group, ref.version, info.kind) not in kinds:
            continue
        served.append(
            ResourceType(
                group=ref.group,
                version=ref.version,
                plural=ref.plural,
                kind=info.kind,
                namespaced=bool(info.namespaced),
                singular=info.singular or info.kind.lower(),
                verbs=tuple(sorted(info.verbs)),
                short_names=tuple(sorted(info.shortnames)),
                categories=tuple(sorted(info.categories)),
                # Only the subresources the emulator implements are advertised.
                subresources=tuple(sorted(info.subresources & {"status"})),
            )
        )
    served.sort(key=lambda r: (r.group, r.version, r.plural))
    return Catalog(kube_version=kube_version, resources=tuple(served))
