"""The connection to a Kubernetes cluster: Helm configs, a JSON client, and its errors.

Adapter layer, under everything that talks to the API server (``helmtarget.py``,
``liveobjects.py``, ``kubeevents.py``, ``leader.py``). ``KubeConnection`` is the one place
that knows how to reach the cluster (a kubeconfig file and context, or the pod's service
account) and hands out what each library needs:

- ``helm_config(namespace)``: a ``helm_python.Config`` per namespace, cached (Helm
  upgrades need the config's namespace to be the release's), with client-go throttling
  raised to ``qps=100, burst_limit=200`` (its defaults, 5 and 10, throttle a long-lived
  config to seconds per action; docs/helm-sdk-notes.md) and the Secret storage driver;
- ``client()``: a ``KubeClient``, a thin JSON seam over ``kubernetes.client.ApiClient``
  (``get``, ``list``, ``create``, ``replace``, ``patch``) where every call carries a
  request timeout and every failure leaves as a ``KubeError`` that says whether a retry
  can help. Status messages are cut short before they reach an exception: the API server
  can echo request bodies back in them.

    connection = KubeConnection.detect(kubeconfig=Path("~/.kube/config"), context="prod")
    client = connection.client()
    deployment = client.get(object_path("apps/v1", "Deployment", "default", "phi"))
"""

from __future__ import annotations

import datetime
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes
import urllib3
from kubernetes.client import ApiClient, ApiException, Configuration

JSON = dict[str, Any]
MAX_MESSAGE = 200
#: Accept header of a metadata-only list (falls back to a full list where not served).
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"

# kubernetes.config's loaders carry no annotations; these are their signatures as used here.
_load_kube_config: Callable[..., None] = kubernetes.config.load_kube_config
_load_incluster_config: Callable[..., None] = kubernetes.config.load_incluster_config

#: Kinds that live outside namespaces, among those a chart may render.
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)


def truncate(text: str, limit: int = MAX_MESSAGE) -> str:
    """One line of at most ``limit`` characters: safe to log and to put in an Event."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def micro_time(seconds: float) -> str:
    """Kubernetes MicroTime (RFC 3339 with microseconds, UTC) of a Unix time."""
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class KubeError(Exception):
    """A Kubernetes API call failed; ``retryable`` says whether the same call may succeed."""

    def __init__(
        self, message: str, *, status: int = 0, reason: str = "", retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.retryable = status, reason, retryable


class KubeNotFoundError(KubeError):
    """404: the object (or its kind) does not exist."""


class KubeConflictError(KubeError):
    """409: a stale resourceVersion, or the object already exists (``reason`` says which)."""


class KubeForbiddenError(KubeError):
    """401 or 403: the controller's credentials or RBAC do not allow the call."""


class KubeUnavailableError(KubeError):
    """The server could not be reached, timed out, throttled us or failed (5xx)."""


def api_error(method: str, path: str, status: int, body: bytes) -> KubeError:
    """The exception for an error answer, from its Status body (message truncated)."""
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    reason = str(payload.get("reason") or "")
    message = f"{method} {path}: {status} {reason}: {truncate(payload.get('message') or '')}"
    kinds: dict[int, type[KubeError]] = {404: KubeNotFoundError, 409: KubeConflictError}
    kinds |= {401: KubeForbiddenError, 403: KubeForbiddenError}
    if status == 429 or status >= 500:
        return KubeUnavailableError(message, status=status, reason=reason, retryable=True)
    return kinds.get(status, KubeError)(message, status=status, reason=reason)


@dataclass(frozen=True)
class ObjectRef:
    """Enough to name an object in an Event's ``regarding`` or an API path."""

    api_version: str
    kind: str
    name: str
    namespace: str = ""
    uid: str = ""

    def as_reference(self) -> JSON:
        ref: JSON = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if self.namespace:
            ref["namespace"] = self.namespace
        if self.uid:
            ref["uid"] = self.uid
        return ref

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            str(obj.get("apiVersion", "")),
            str(obj.get("kind", "")),
            str(meta.get("name", "")),
            str(meta.get("namespace") or ""),
            str(meta.get("uid") or ""),
        )


def plural(kind: str) -> str:
    """The resource name of a kind, as client-go's UnsafeGuessKindToResource guesses it."""
    lower = kind.lower()
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in tuple("aeiou"):
        return lower[:-1] + "ies"
    return lower + "s"


def object_path(api_version: str, kind: str, namespace: str | None, name: str = "") -> str:
    """The API path of an object (or, without a name, of its collection)."""
    root = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    scope = "" if kind in CLUSTER_SCOPED or not namespace else f"/namespaces/{namespace}"
    return f"{root}{scope}/{plural(kind)}" + (f"/{name}" if name else "")


class KubeClient:
    """JSON requests to the API server through the official client's transport."""

    def __init__(self, api: ApiClient, *, timeout: float = 30.0) -> None:
        self._api = api
        self.timeout = timeout

    def get(self, path: str, *, timeout: float | None = None) -> JSON:
        return self.request("GET", path, timeout=timeout)

    def close(self) -> None:
        close: Callable[[], None] = self._api.close  # unannotated in kubernetes.client
        close()

    def list(
        self,
        path: str,
        *,
        label_selector: str = "",
        timeout: float | None = None,
        metadata_only: bool = False,
    ) -> list[JSON]:
        """The collection's items; ``metadata_only``: only their metadata (a
        PartialObjectMetadataList, what client-go's metadata informers read)."""
        query = {"labelSelector": label_selector} if label_selector else {}
        accept = METADATA_ONLY if metadata_only else "application/json"
        answer = self.request("GET", path, query=query, timeout=timeout, accept=accept)
        items = answer.get("items") or []
        return [item for item in items if isinstance(item, dict)]

    def create(self, path: str, body: JSON, *, timeout: float | None = None) -> JSON:
        return self.request("POST", path, body=body, timeout=timeout)

    def replace(self, path: str, body: JSON, *, timeout: float | None = None) -> JSON:
        return self.request("PUT", path, body=body, timeout=timeout)

    def patch(self, path: str, body: JSON, *, timeout: float | None = None) -> JSON:
        """A JSON merge patch (RFC 7386)."""
        return self.request(
            "PATCH", path, body=body, content_type="application/merge-patch+json", timeout=timeout
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: JSON | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
        accept: str = "application/json",
    ) -> JSON:
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            verb, url, sent_headers, payload, _ = self._api.param_serialize(
                method=method,
                resource_path=path,
                query_params=list((query or {}).items()),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self._api.call_api(
                verb, url, header_params=sent_headers, body=payload,
                _request_timeout=timeout or self.timeout,
            )  # fmt: skip
            raw: Any = response.response  # the urllib3 response; the wrapper is untyped
            data = bytes(raw.data or b"")
        except (urllib3.exceptions.HTTPError, ApiException, OSError) as e:
            why = truncate(f"{type(e).__name__}: {e}", 160)
            raise KubeUnavailableError(f"{method} {path}: {why}", retryable=True) from e
        if not 200 <= response.status < 300:
            raise api_error(method, path, response.status, data)
        try:
            decoded = json.loads(data) if data else {}
        except ValueError as e:
            raise KubeError(f"{method} {path}: the answer is not JSON", retryable=True) from e
        return decoded if isinstance(decoded, dict) else {}


@dataclass(frozen=True)
class KubeConnection:
    """How to reach one cluster: a kubeconfig (and context), or the pod's service account."""

    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False
    request_timeout: float = 30.0
    qps: float = 100.0
    burst: int = 200
    _configs: dict[str, helm.Config] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _clients: list[KubeClient] = field(default_factory=list, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @classmethod
    def detect(
        cls,
        kubeconfig: Path | None = None,
        context: str | None = None,
        *,
        environ: Mapping[str, str] = os.environ,
        request_timeout: float = 30.0,
    ) -> KubeConnection:
        """In-cluster when nothing is given, no KUBECONFIG is set and the pod's service
        account is there; the given (or default) kubeconfig otherwise."""
        in_cluster = (
            kubeconfig is None
            and context is None
            and not environ.get("KUBECONFIG")
            and bool(environ.get("KUBERNETES_SERVICE_HOST"))
        )
        return cls(kubeconfig, context, in_cluster, request_timeout=request_timeout)

    def helm_config(self, namespace: str) -> helm.Config:
        """The Helm SDK config for releases in ``namespace`` (one per namespace, reused)."""
        with self._lock:
            config = self._configs.get(namespace)
            if config is None:
                config = helm.Config(
                    kubeconfig_path=None if self.in_cluster else self.kubeconfig,
                    kube_context=None if self.in_cluster else self.context,
                    namespace=namespace,
                    qps=self.qps,
                    burst_limit=self.burst,
                    storage_driver="secret",
                )
                self._configs[namespace] = config
            return config

    def api_client(self) -> ApiClient:
        """A new official client configured like the Helm configs (retries left to us)."""
        configuration = Configuration()
        if self.in_cluster:
            _load_incluster_config(client_configuration=configuration)
        else:
            _load_kube_config(
                config_file=None if self.kubeconfig is None else str(self.kubeconfig),
                context=self.context,
                client_configuration=configuration,
                persist_config=False,
            )
        configuration.retries = False  # one failed request is one error; callers retry
        return ApiClient(configuration)

    def client(self) -> KubeClient:
        """The shared JSON client of this connection."""
        with self._lock:
            if not self._clients:
                self._clients.append(KubeClient(self._api(), timeout=self.request_timeout))
            return self._clients[0]

    def _api(self) -> ApiClient:
        try:
            return self.api_client()
        except (kubernetes.config.ConfigException, OSError, ValueError) as e:
            where = "in-cluster service account" if self.in_cluster else str(self.kubeconfig)
            raise KubeError(f"cannot load {where}: {truncate(str(e))}") from e

    def close(self) -> None:
        with self._lock:
            for config in self._configs.values():
                config.close()
            self._configs.clear()
            for client in self._clients:
                client.close()
            self._clients.clear()
