"""A controller served over HTTP on 127.0.0.1, and a client for it, for the engine tests.

``seed`` commits the edge cluster with one Workspace; ``serving`` runs a Controller on it
(hydrate target, loop not started) behind the full App on a free port.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from controller.engine.loop import Controller
from controller.engine.server import App, Server, WebhookSecrets
from controller.engine.settings import Settings, build_syncer
from tests.support.gitserver import GitDaemon, OriginRepo

SECRET = b"s3cr3t-webhook"
TOKEN = b"generic-token-123"
CLUSTER = (
    "apiVersion: modelsync.dev/v1alpha1\nkind: Cluster\nmetadata: {name: edge}\n"
    "spec:\n  nodePools:\n    - {name: l4, gpu: L4, gpusPerNode: 1, nodes: 4}\n"
)


def workspace(name: str, length: int = 8192) -> str:
    return (
        f"apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata:\n  name: {name}\n"
        f"  annotations: {{modelsync.dev/max-model-len: '{length}'}}\n"
        "resource: {}\ninference:\n  preset: {name: phi-3.5-mini-instruct}\n"
    )


def seed(git_origin: OriginRepo) -> OriginRepo:
    """The edge cluster with one Workspace, phi, committed."""
    git_origin.write("clusters/edge/cluster.yaml", CLUSTER)
    git_origin.write("clusters/edge/phi.yaml", workspace("phi"))
    git_origin.commit("initial")
    return git_origin


class Running:
    def __init__(self, controller: Controller, server: Server, app: App | None = None) -> None:
        self.controller = controller
        self.app = app
        self.url = f"http://127.0.0.1:{server.port}"

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        request = urllib.request.Request(self.url + path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


@contextmanager
def serving(origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path) -> Iterator[Running]:
    """An in-process controller (hydrate target, not started) serving every endpoint."""
    settings = Settings(
        cluster="edge",
        repo=git_daemon.url(origin.name),
        branch="main",
        target="hydrate",
        out=tmp_path / "out",
        state_dir=tmp_path / "state",
    )
    controller = Controller(build_syncer(settings), interval=3600)
    app = App(
        controller,
        WebhookSecrets(github=SECRET, token=TOKEN),
        followed_ref="refs/heads/main",
        stale_after=600,
    )
    server = Server(app, "127.0.0.1:0")
    server.start()
    try:
        yield Running(controller, server, app)
    finally:
        controller.stop(timeout=10)
        server.stop()


@contextmanager
def idle_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that never send a byte (half-open or slowloris clients)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        yield sockets
    finally:
        for s in sockets:
            s.close()


def timed_get(url: str) -> tuple[int, float]:
    """The status code of a GET and the seconds it took."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            code = int(response.status)
    except urllib.error.HTTPError as e:
        code = e.code
    return code, time.monotonic() - started
