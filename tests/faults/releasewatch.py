"""What happened to Helm's releases during a scenario: a watch on their storage Secrets.

Test support for tests/faults. Helm keeps one Secret per release revision
(``sh.helm.release.v1.<name>.v<N>``, labels ``owner=helm``, ``name``, ``version``,
``status``, plus the release's own labels such as ``modelsync.dev/commit``). The watch
reads them straight from the API server (never through the fault proxy) from before the
first fault to the end, so a state that lasts milliseconds (a release marked
``uninstalling`` and deleted a moment later) is still seen.

An *unintended uninstall* is a release that Git intends (``protected``) and that had been
deployed, being marked uninstalling/uninstalled or losing all its records at any moment. A
release that never reached ``deployed`` (an interrupted first install) being reinstalled
is a recovery, counted apart as ``reinstalls``.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.controlplane.cluster import ControlPlane
from tests.controlplane.processes import client_context

SELECTOR = "owner=helm"
_GONE = ("uninstalling", "uninstalled")
_WAS_DEPLOYED = ("deployed", "superseded")


@dataclass(frozen=True)
class Revision:
    version: int
    status: str
    commit: str


@dataclass
class ReleaseWatch:
    plane: ControlPlane
    namespace: str
    protected: set[str] = field(default_factory=set)
    revisions: dict[str, dict[int, Revision]] = field(default_factory=dict)
    deployed_once: set[str] = field(default_factory=set)
    unintended: list[str] = field(default_factory=list)
    reinstalls: list[str] = field(default_factory=list)
    statuses: dict[str, set[str]] = field(default_factory=dict)  # every status seen, by release

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: http.client.HTTPSConnection | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    # --- reading the API server -------------------------------------------------------

    def _get(self, query: dict[str, str]) -> http.client.HTTPResponse:
        pki = self.plane.dir / "pki"
        context = client_context(pki / "ca.crt", pki / "admin.crt", pki / "admin.key")
        connection = http.client.HTTPSConnection(
            f"127.0.0.1:{self.plane.ports.apiserver}", context=context, timeout=None
        )
        path = f"/api/v1/namespaces/{self.namespace}/secrets?{urllib.parse.urlencode(query)}"
        connection.request("GET", path)
        self._connection = connection
        return connection.getresponse()

    def start(self) -> ReleaseWatch:
        listing = self._get({"labelSelector": SELECTOR})
        listed = json.load(listing)
        listing.close()
        if self._connection is not None:
            self._connection.close()
        for item in listed["items"]:
            self._apply("ADDED", item)
        version = listed["metadata"]["resourceVersion"]
        stream = self._get({"labelSelector": SELECTOR, "watch": "1", "resourceVersion": version})
        self._thread = threading.Thread(target=self._follow, args=(stream,), daemon=True)
        self._thread.start()
        return self

    def _follow(self, stream: http.client.HTTPResponse) -> None:
        try:
            while line := stream.readline():
                event = json.loads(line)
                self._apply(str(event["type"]), event["object"])
        except (OSError, ValueError, http.client.HTTPException):
            if not self._stopped.is_set():
                raise

    def stop(self) -> None:
        self._stopped.set()
        if self._connection is not None and self._connection.sock is not None:
            # Unblocks the reader's readline(); close() alone would wait for it.
            self._connection.sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._connection is not None:
            self._connection.close()

    # --- bookkeeping ------------------------------------------------------------------

    def _apply(self, kind: str, secret: dict[str, Any]) -> None:
        labels = secret["metadata"].get("labels") or {}
        name, status = str(labels.get("name", "")), str(labels.get("status", ""))
        revision = Revision(
            int(labels.get("version") or 0), status, labels.get("modelsync.dev/commit", "")
        )
        with self._lock:
            records = self.revisions.setdefault(name, {})
            self.statuses.setdefault(name, set()).add(status)
            if kind == "DELETED":
                records.pop(revision.version, None)
            elif kind in ("ADDED", "MODIFIED"):
                records[revision.version] = revision
            if status in _WAS_DEPLOYED and kind != "DELETED":
                self.deployed_once.add(name)
            gone = status in _GONE and kind != "DELETED"
            if not records or gone:
                self._uninstalled(name, "its records were deleted" if not records else status)

    def _uninstalled(self, name: str, how: str) -> None:
        if name not in self.protected:
            return
        if name in self.deployed_once:
            self.unintended.append(f"{name}: {how}")
        elif name not in self.reinstalls[-1:]:
            self.reinstalls.append(name)

    # --- what the scenario asks -------------------------------------------------------

    def intend(self, names: Iterable[str]) -> None:
        """What Git intends from now on (set before pushing the commit that says so)."""
        with self._lock:
            self.protected = set(names)

    def present(self) -> dict[str, Revision]:
        """Each release's newest revision, for releases with any record."""
        with self._lock:
            return {n: r[max(r)] for n, r in self.revisions.items() if r}
