"""Live objects behind releases: what a manifest's objects look like now, and the workloads.

Adapter layer, between ``helmtarget.py`` (which asks) and the pure ``core/drift.py`` and
``core/workloads.py`` (which judge). Two reads, both through ``KubeClient``:

- ``LiveObjects.drift(objects)``: each object of a release manifest is read back (a GET
  each, or one list per kind and namespace where a kind has several objects there, so a
  drift check of many releases costs about one request per kind and namespace) and
  compared as a subset of the live object; a missing object is drift too (except a
  finished Job removed by its TTL).
- ``LiveObjects.reclaim(objects, manager)``: the drifted objects that still exist are
  applied again, server-side with ``force``, under Helm's field manager, so fields another
  manager took over (``kubectl scale``, ``kubectl edit``) are Helm's again and the upgrade
  that corrects them does not fail on a conflict (Helm applies with ``force=false``).
- ``LiveObjects.workloads(namespace, cluster)``: the Deployments, LeaderWorkerSets and
  Jobs that the workload charts label ``app.kubernetes.io/part-of=modelsync`` and
  ``modelsync.dev/cluster=<cluster>``, by release (``app.kubernetes.io/instance``): three
  lists per namespace, however many releases it holds. A cluster without the
  LeaderWorkerSet CRD (404), or a controller not granted it (403), has none of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from controller.adapters.kube import (
    CLUSTER_SCOPED,
    JSON,
    KubeClient,
    KubeForbiddenError,
    KubeNotFoundError,
    object_path,
)
from controller.core.drift import differs, may_be_absent

ObjectKey = tuple[str, str, str, str]  # apiVersion, kind, namespace, name
INSTANCE_LABEL = "app.kubernetes.io/instance"
PART_OF = "app.kubernetes.io/part-of=modelsync"
GROUP_KIND = "LeaderWorkerSet"
WORKLOAD_KINDS = (
    ("apps/v1", "Deployment"),
    ("leaderworkerset.x-k8s.io/v1", GROUP_KIND),
    ("batch/v1", "Job"),
)
#: At this many objects of one kind in one namespace, one list beats a GET each.
LIST_THRESHOLD = 4
MISSING = "<missing>"
#: The safe loader, in C where PyYAML was built with libyaml (ten times faster on manifests).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def manifest_objects(manifest: str, namespace: str) -> list[JSON]:
    """The objects of a release manifest, each with its namespace filled in."""
    objects = []
    for document in yaml.load_all(manifest or "", Loader=_LOADER):
        if not isinstance(document, dict) or not document.get("kind"):
            continue
        meta = document.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name"):
            continue
        if document["kind"] not in CLUSTER_SCOPED:
            meta.setdefault("namespace", namespace)
        objects.append(document)
    return objects


def key_of(obj: Mapping[str, Any]) -> ObjectKey:
    meta = obj.get("metadata") or {}
    return (
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(meta.get("namespace") or ""),
        str(meta.get("name", "")),
    )


class LiveObjects:
    """Reads objects back from the API server for drift checks and workload state."""

    def __init__(self, client: KubeClient, *, list_threshold: int = LIST_THRESHOLD) -> None:
        self._client = client
        self._list_threshold = list_threshold

    def fetch(self, objects: Iterable[Mapping[str, Any]]) -> dict[ObjectKey, JSON | None]:
        """The live version of each object (None when it does not exist). Raises KubeError."""
        groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for obj in objects:
            api_version, kind, namespace, name = key_of(obj)
            groups[(api_version, kind, namespace)].append(name)
        found: dict[ObjectKey, JSON | None] = {}
        for (api_version, kind, namespace), names in groups.items():
            if len(names) >= self._list_threshold:
                found |= self._listed(api_version, kind, namespace, names)
                continue
            for name in names:
                try:
                    live = self._client.get(object_path(api_version, kind, namespace, name))
                except KubeNotFoundError:
                    live = None
                found[(api_version, kind, namespace, name)] = live
        return found

    def _listed(
        self, api_version: str, kind: str, namespace: str, names: Sequence[str]
    ) -> dict[ObjectKey, JSON | None]:
        try:
            items = self._client.list(object_path(api_version, kind, namespace))
        except KubeNotFoundError:  # the kind is not served (any more)
            items = []
        by_name = {str((i.get("metadata") or {}).get("name")): i for i in items}
        return {(api_version, kind, namespace, n): by_name.get(n) for n in names}

    def drift(self, objects: Sequence[Mapping[str, Any]]) -> dict[ObjectKey, list[str]]:
        """Objects whose live state no longer holds what they set, with the paths that differ."""
        live = self.fetch(objects)
        drifted: dict[ObjectKey, list[str]] = {}
        for obj in objects:
            key = key_of(obj)
            current = live.get(key)
            if current is None:
                paths = [] if may_be_absent(obj) else [MISSING]
            else:
                paths = differs(obj, current)
            if paths:
                drifted[key] = paths
        return drifted

    def reclaim(self, objects: Sequence[Mapping[str, Any]], manager: str) -> int:
        """Force-apply, as ``manager``, each of ``objects`` that exists and drifted (a
        missing one is left for Helm to create). Returns how many; raises KubeError."""
        drifted = self.drift(objects)
        reclaimed = 0
        for obj in objects:
            key = key_of(obj)
            if key not in drifted or drifted[key] == [MISSING]:
                continue
            api_version, kind, namespace, name = key
            self._client.request(
                "PATCH",
                object_path(api_version, kind, namespace, name),
                query={"fieldManager": manager, "force": "true"},
                body=dict(obj),
                content_type="application/apply-patch+yaml",  # JSON is YAML
            )
            reclaimed += 1
        return reclaimed

    def workloads(self, namespace: str, cluster: str) -> dict[str, list[JSON]]:
        """The modelsync Deployments, LeaderWorkerSets and Jobs of a cluster in one
        namespace, by release."""
        selector = f"{PART_OF},modelsync.dev/cluster={cluster}"
        by_release: dict[str, list[JSON]] = defaultdict(list)
        for api_version, kind in WORKLOAD_KINDS:
            path = object_path(api_version, kind, namespace)
            try:
                items = self._client.list(path, label_selector=selector)
            except (KubeNotFoundError, KubeForbiddenError):
                if kind != GROUP_KIND:
                    raise
                items = []  # no LWS CRD, or rbac.manageLeaderWorkerSets is off
            for item in items:
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)  # list items carry no kind
                release = ((item.get("metadata") or {}).get("labels") or {}).get(INSTANCE_LABEL)
                if release:
                    by_release[str(release)].append(item)
        return dict(by_release)
