"""The ModelWorkspace objects in the cluster: read, server-side applied, deleted.

Adapter layer, the ``ObjectStore`` port (core/ports.py) over ``KubeClient``, for the
engine's ``publishing.py`` (status after each pass) and ``controlwatch.py`` (requests made
through the API). One list per namespace reads a cluster's objects (selected by the
labels the controller puts on them); spec and status are applied server-side under the
controller's field manager (``modelsync``), status through its subresource, so the
annotations a person sets with ``modelsync suspend`` are theirs and never overwritten.
A Kubernetes error leaves as a ``TargetError``.

    store = WorkspaceObjects(connection.client(), "prod")
    live = store.read(["team-a"])   # {("team-a", "phi"): {...}} or None without the CRD
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controller.adapters.kube import JSON, KubeClient, KubeError, KubeNotFoundError, object_path
from controller.core.control import API_VERSION, KIND, key_of
from controller.core.ports import TargetError
from controller.core.releases import LABEL_CLUSTER, LABEL_MANAGED_BY, MANAGER

FIELD_MANAGER = "modelsync"
APPLY = "application/apply-patch+yaml"  # JSON is YAML


def path(namespace: str, name: str = "") -> str:
    return object_path(API_VERSION, KIND, namespace, name)


class WorkspaceObjects:
    """One cluster's ModelWorkspace objects."""

    def __init__(self, client: KubeClient, cluster: str, *, timeout: float | None = None) -> None:
        self._client = client
        self._cluster = cluster
        self._timeout = timeout

    def read(self, namespaces: Sequence[str]) -> dict[tuple[str, str], JSON] | None:
        return self._list(namespaces, metadata_only=False)

    def read_metadata(self, namespaces: Sequence[str]) -> dict[tuple[str, str], JSON] | None:
        """Their metadata alone: what the request poll needs, a fraction of the bytes."""
        return self._list(namespaces, metadata_only=True)

    def _list(
        self, namespaces: Sequence[str], *, metadata_only: bool
    ) -> dict[tuple[str, str], JSON] | None:
        selector = f"{LABEL_MANAGED_BY}={MANAGER},{LABEL_CLUSTER}={self._cluster}"
        found: dict[tuple[str, str], JSON] = {}
        for namespace in sorted(set(namespaces)):
            try:
                items = self._client.list(
                    path(namespace),
                    label_selector=selector,
                    timeout=self._timeout,
                    metadata_only=metadata_only,
                )
            except KubeNotFoundError:
                return None
            except KubeError as e:
                raise TargetError(f"cannot list the ModelWorkspaces in {namespace}: {e}") from e
            for item in items:
                item.setdefault("apiVersion", API_VERSION)
                item.setdefault("kind", KIND)
                found[key_of(item)] = item
        return found

    def apply(self, body: Mapping[str, Any]) -> JSON:
        meta = body["metadata"]
        return self._apply(path(meta["namespace"], meta["name"]), dict(body))

    def apply_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        body = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name, "namespace": namespace},
            "status": dict(status),
        }
        self._apply(path(namespace, name) + "/status", body)

    def delete(self, namespace: str, name: str) -> None:
        try:
            self._client.request("DELETE", path(namespace, name), timeout=self._timeout)
        except KubeNotFoundError:
            return
        except KubeError as e:
            raise TargetError(f"cannot delete ModelWorkspace {namespace}/{name}: {e}") from e

    def _apply(self, where: str, body: JSON) -> JSON:
        try:
            return self._client.request(
                "PATCH",
                where,
                query={"fieldManager": FIELD_MANAGER, "force": "true"},
                body=body,
                content_type=APPLY,
                timeout=self._timeout,
            )
        except KubeError as e:
            raise TargetError(f"cannot apply {where}: {e}") from e
