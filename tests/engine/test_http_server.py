"""The HTTP server: threads stay capped under idle connections, and the webhooks can be
served alone on their own port.

A bounded number of sockets on 127.0.0.1 connect and never send a byte (what half-open
or slowloris clients look like from the server's side); a probe is then asked for.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.core.webhooks import github_signature
from controller.engine.server import Server, WebhookSecrets, build_servers
from controller.engine.settings import load_settings
from tests.support.controllerhttp import (
    SECRET,
    Running,
    idle_connections,
    seed,
    serving,
    timed_get,
)
from tests.support.gitserver import GitDaemon, OriginRepo

IDLE = 200
OVER_LIMIT = 60


@pytest.fixture
def running(git_origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path) -> Iterator[Running]:
    with serving(seed(git_origin), git_daemon, tmp_path) as running:
        yield running


def test_idle_connections_take_no_threads_and_a_probe_is_answered_at_once(
    running: Running,
) -> None:
    assert running.get("/healthz")[0] in (200, 503)  # the pool is up
    before = threading.active_count()
    with idle_connections(int(running.url.rsplit(":", 1)[1]), IDLE):
        # Served after every idle connection before it was accepted (one listen queue).
        code, seconds = timed_get(running.url + "/readyz")
        during = threading.active_count()
    assert code in (200, 503)
    assert seconds < 2.0
    assert during <= before  # werkzeug's server had started one thread per connection


def test_past_the_connection_limit_idle_ones_are_closed_and_requests_served(
    running: Running,
) -> None:
    assert running.app is not None
    server = Server(running.app, "127.0.0.1:0", threads=2, connection_limit=30, channel_timeout=1)
    server.start()
    client = Running(running.controller, server)
    try:
        assert client.get("/healthz")[0] in (200, 503)
        before = threading.active_count()
        with idle_connections(server.port, OVER_LIMIT) as sockets:
            code, seconds = timed_get(client.url + "/readyz")
            during = threading.active_count()
            closed = sum(1 for s in sockets if s.recv(1) == b"")  # closed by the server
    finally:
        server.stop()
    assert code in (200, 503)
    # The idle ones ahead of it are closed after 1 s idle (checked each second), 30 at a
    # time: two rounds, not the for-ever of a server without a timeout.
    assert seconds < 8.0
    assert during <= before
    assert closed == OVER_LIMIT


def test_a_webhook_listener_serves_the_webhooks_alone(running: Running, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("cluster: edge\nrepo: {url: /x}\nwebhookListen: '127.0.0.1:0'\n")
    settings = load_settings(config, listen="127.0.0.1:0")
    internal, webhooks = build_servers(
        running.controller,
        WebhookSecrets(github=SECRET),
        listen=settings.listen,
        webhook_listen=settings.webhook_listen,
        followed_ref="refs/heads/main",
        stale_after=600,
    )
    for server in (internal, webhooks):
        server.start()
    inside = Running(running.controller, internal)
    outside = Running(running.controller, webhooks)
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    signed = {"X-GitHub-Event": "push", "X-Hub-Signature-256": github_signature(SECRET, body)}
    try:
        assert [outside.get(p)[0] for p in ("/status", "/metrics", "/healthz", "/")] == [404] * 4
        assert outside.post("/webhook/github", body, signed)[0] == 202
        assert inside.post("/webhook/github", body, signed)[0] == 404
        assert [inside.get(p)[0] for p in ("/status", "/metrics", "/")] == [200] * 3
    finally:
        for server in (internal, webhooks):
            server.stop()
    assert running.controller._reasons == ["github push"]
