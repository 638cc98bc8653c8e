"""An emulated Kubernetes API server on loopback, for synchronous clients in tests.

Test support, what the `kube_api` fixture yields. `KubeApi.start()` runs a
`KubeApiEmulator` (kmock underneath) on 127.0.0.1 in a background thread with its own
asyncio loop, so blocking callers (Helm's Go code through ctypes, the `kubernetes`
client) can talk to it while the test thread waits. The loop owns every object: the
handle's accessors run on it and hand back copies. Faults (`fail`, `conflict`, `delay`)
apply to the next N matching requests or, with `times=None`, until `clear_faults()`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp.web
import kmock
import yaml

from tests.support.kubeapi_catalog import DEFAULT_KUBE_VERSION, JSON, ResourceType
from tests.support.kubeapi_emulator import KubeApiEmulator
from tests.support.kubeapi_faults import FaultRule
from tests.support.kubeapi_store import Target

T = TypeVar("T")

__all__ = ["DEFAULT_KUBE_VERSION", "KubeApi", "RecordedRequest"]

_TIMEOUT = 10.0
_SHUTDOWN_GRACE = 1.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    content_type: str
    accept: str


class KubeApi:
    """A running emulated API server and the test-facing accessors around it."""

    def __init__(self, kubeconfig_path: Path, *, kube_version: str = DEFAULT_KUBE_VERSION) -> None:
        self.kubeconfig_path = kubeconfig_path
        self.kube_version = kube_version
        self.emulator = KubeApiEmulator(kube_version=kube_version)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._port = 0

    # --- lifecycle ----------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> KubeApi:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name="kube-api", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(_TIMEOUT) or self._failure is not None:
            raise RuntimeError("the emulated API server did not start") from self._failure
        self._write_kubeconfig()
        return self

    def __enter__(self) -> KubeApi:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(_TIMEOUT)
        if self._failure is not None:
            raise RuntimeError("the emulated API server failed") from self._failure

    def _run(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(sock))
        except BaseException as exc:  # handed to the test thread by start() / stop()
            self._failure = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            sock.close()

    async def _serve(self, sock: socket.socket) -> None:
        self._stopping = asyncio.Event()
        async with self.emulator:
            server = aiohttp.web.Server(self.emulator, handler_cancellation=True)
            runner = aiohttp.web.ServerRunner(server, shutdown_timeout=_SHUTDOWN_GRACE)
            await runner.setup()
            sock.listen(128)
            await aiohttp.web.SockSite(runner, sock).start()
            self._ready.set()
            try:
                await self._stopping.wait()
            finally:
                await self.emulator.close()
                await runner.cleanup()

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulated", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "emulated-token"}}],
            "contexts": [
                {
                    "name": "emulated",
                    "context": {"cluster": "emulated", "user": "tester", "namespace": "default"},
                }
            ],
            "current-context": "emulated",
        }
        self.kubeconfig_path.write_text(yaml.safe_dump(config), encoding="utf-8")

    def _call(self, func: Callable[[], T]) -> T:
        """Run `func` on the server's loop (the owner of all state) and wait for it."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the emulated API server is not running")

        async def call() -> T:
            result = func()
            await self.emulator.store.changes.announce()
            return result

        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(call(), loop)
        return future.result(_TIMEOUT)

    # --- objects ------------------------------------------------------------

    def resource(self, spec: str) -> ResourceType:
        """Resolve 'apps/v1/deployments', 'v1/secrets', 'deployments', 'Deployment' or 'deploy'."""
        catalog = self.emulator.catalog
        if spec.count("/") >= 1:
            group_version, _, plural = spec.rpartition("/")
            group, _, version = group_version.rpartition("/")
            found = catalog.find(group, version, plural)
            if found is None:
                raise KeyError(spec)
            return found
        candidates = [
            r
            for r in catalog.resources
            if spec in (r.plural, r.singular, *r.short_names) or spec.lower() == r.kind.lower()
        ]
        candidates.sort(key=lambda r: catalog.group_versions[r.group].index(r.version))
        if not candidates:
            raise KeyError(spec)
        return candidates[0]

    def objects(self, resource: str, namespace: str | None = None) -> list[JSON]:
        """Current objects of a resource (all namespaces unless one is given), as copies."""
        r = self.resource(resource)

        def collect() -> list[JSON]:
            found = []
            for (ref, ns, _), obj in self.emulator.objects.items():
                if (ref.group, ref.version, ref.plural) != (r.group, r.version, r.plural):
                    continue
                if obj.deleted or (namespace is not None and ns != namespace):
                    continue
                found.append(copy.deepcopy(obj.raw))
            return sorted(
                found, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
            )

        return self._call(collect)

    def get(self, resource: str, name: str, namespace: str | None = "default") -> JSON | None:
        """One object as currently stored (None when absent); cluster-scoped ignore namespace."""
        r = self.resource(resource)
        for obj in self.objects(resource, namespace if r.namespaced else None):
            if obj["metadata"]["name"] == name:
                return obj
        return None

    def history(
        self, resource: str, name: str, namespace: str | None = "default"
    ) -> list[JSON | None]:
        """Every stored version of an object, oldest first; None marks a deletion."""
        r = self.resource(resource)
        key = (
            kmock.resource(r.group, r.version, r.plural),
            namespace if r.namespaced else None,
            name,
        )

        def collect() -> list[JSON | None]:
            if key not in self.emulator.objects:
                return []
            versions = self.emulator.objects[key].history
            return [None if v is None else copy.deepcopy(v.raw) for v in versions]

        return self._call(collect)

    def put(self, obj: JSON) -> JSON:
        """Store an object directly (create or replace), e.g. a Deployment with a status."""
        return self._call(lambda: copy.deepcopy(self.emulator.store.write(copy.deepcopy(obj))))

    def add_node(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        gpus: int = 0,
        *,
        cpu: str = "32",
        memory: str = "128Gi",
        taints: list[JSON] | None = None,
    ) -> JSON:
        """A Ready node whose capacity and allocatable include `nvidia.com/gpu: gpus`."""
        resources = {"cpu": cpu, "memory": memory, "pods": "110"}
        if gpus:
            resources["nvidia.com/gpu"] = str(gpus)
        node: JSON = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, **(labels or {})},
            },
            "spec": {"taints": taints} if taints else {},
            "status": {
                "capacity": resources,
                "allocatable": dict(resources),
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            },
        }
        return self.put(node)

    def set_ready(self, resource: str, name: str, namespace: str | None = "default") -> JSON:
        """Report a Deployment/StatefulSet/Job/Pod/PVC as a healthy controller would."""
        r = self.resource(resource)
        ns = namespace if r.namespaced else None
        target = Target(r, ns, name)
        return self._call(lambda: copy.deepcopy(self.emulator.store.set_ready(target)))

    @property
    def auto_ready(self) -> bool:
        """Whether workloads become ready as soon as they are written (off: nothing runs)."""
        return self.emulator.store.auto_ready

    @auto_ready.setter
    def auto_ready(self, value: bool) -> None:
        self.emulator.store.auto_ready = value

    def requests(self) -> list[RecordedRequest]:
        """Every request served so far, in order."""

        def collect() -> list[RecordedRequest]:
            return [
                RecordedRequest(
                    method=r.method.value,
                    path=r.url.path,
                    query=r.url.query_string,
                    content_type=r.headers.get("Content-Type", ""),
                    accept=r.headers.get("Accept", ""),
                )
                for r in self.emulator  # kmock's handler iterates over its requests
            ]

        return self._call(collect)

    def wait_for_request(
        self, method: str | None, path_pattern: str, timeout: float = 10.0
    ) -> RecordedRequest:
        """Block until a matching request has arrived (e.g. from a thread, while Helm runs)."""
        pattern = re.compile(path_pattern)
        deadline = time.monotonic() + timeout
        while True:
            for request in self.requests():
                if (method is None or request.method == method.upper()) and pattern.search(
                    request.path
                ):
                    return request
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method or 'request'} matching {path_pattern!r} arrived")
            time.sleep(0.01)

    def server_errors(self) -> list[BaseException]:
        """Exceptions the emulator raised while serving (its own bugs, not API errors)."""
        return self._call(lambda: list(self.emulator.errors))

    def reset(self) -> None:
        """Forget all objects, requests and faults."""
        self._call(self.emulator.reset)

    # --- faults -------------------------------------------------------------

    def fail(
        self,
        method: str | None,
        path_pattern: str,
        status: int = 500,
        times: int | None = 1,
        *,
        reason: str | None = None,
        message: str | None = None,
        retry_after: int | None = None,
    ) -> FaultRule:
        """Answer matching requests with a Status error (`path_pattern` is searched in the path).

        Error rules queue up: a request consumes the oldest matching one. `retry_after`
        adds the Retry-After header, which makes client-go retry 429 and 5xx answers.
        """
        rule = FaultRule(
            method=method.upper() if method else None,
            pattern=re.compile(path_pattern),
            remaining=times,
            status=status,
            reason=reason,
            message=message,
            retry_after=retry_after,
        )
        return self.emulator.faults.add(rule)

    def conflict(self, method: str | None, path_pattern: str, times: int | None = 1) -> FaultRule:
        """Answer matching requests with 409 Conflict, as a stale resourceVersion would."""
        return self.fail(
            method, path_pattern, 409, times, message="the object has been modified (injected)"
        )

    def delay(
        self, method: str | None, path_pattern: str, seconds: float, times: int | None = 1
    ) -> FaultRule:
        """Hold matching requests for `seconds` before answering them normally."""
        rule = FaultRule(
            method=method.upper() if method else None,
            pattern=re.compile(path_pattern),
            remaining=times,
            delay=seconds,
        )
        return self.emulator.faults.add(rule)

    def clear_faults(self) -> None:
        self.emulator.faults.clear()
