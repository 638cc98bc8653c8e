"""Hostile webhook callers against the running controller (helm target, releases in place):
hundreds of connections that never send a byte (slowloris), a push signed with the wrong
secret, a signature header that is not ASCII, a body over the limit. The probes must keep
answering at once, each bad request must get its 4xx (never a 500, never a pass), and no
release may move; a correctly signed push still wakes the controller.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from pathlib import Path

import pytest

from controller.core.webhooks import MAX_BODY_BYTES, github_signature
from tests.faults import report
from tests.faults.world import World
from tests.support.controllerhttp import idle_connections, timed_get
from tests.support.gitserver import free_port

pytestmark = pytest.mark.cluster

SECRET = b"fault-suite-webhook-secret"
IDLE = 300
PUSH = json.dumps({"ref": "refs/heads/main", "after": "0" * 40}).encode()


def _post(port: int, body: bytes, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.putrequest("POST", "/webhook/github")
        for name, value in (headers | {"Content-Length": str(len(body))}).items():
            connection.putheader(name, value.encode("utf-8"))
        connection.endheaders()
        # Refused before the whole body was read: the answer still says why.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.send(body)
        return connection.getresponse().status
    finally:
        connection.close()


def test_hostile_webhooks_move_no_release(world: World, tmp_path: Path) -> None:
    hooks = tmp_path / "webhook"
    hooks.mkdir()
    (hooks / "secret").write_bytes(SECRET)
    world.put("alpha")
    world.put("beta")
    world.commit("alpha and beta")
    world.watch.start()
    # As the chart runs it: the webhooks alone on their own port (8081 there).
    port = free_port()
    extra = f"leaderElection: {{enabled: false}}\nwebhookListen: '127.0.0.1:{port}'\n"
    replica = world.start(extra=extra, args=["--webhook-dir", str(hooks)])
    assert world.converge(time.monotonic()) is not None, world.tail()
    world.begin()
    push = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
    signed = push | {"X-Hub-Signature-256": github_signature(SECRET, PUSH)}
    with idle_connections(port, IDLE):
        probe, seconds = timed_get(f"http://127.0.0.1:{replica.port}/healthz")
        started = time.monotonic()
        codes = {
            "bad HMAC": _post(port, PUSH, push | {"X-Hub-Signature-256": "sha256=" + "0" * 64}),
            "non-ASCII signature": _post(port, PUSH, push | {"X-Hub-Signature-256": "sha256=é"}),
            "body over the limit": _post(
                port, b"x" * (MAX_BODY_BYTES + 1), push | {"X-Hub-Signature-256": "sha256=0"}
            ),
            "signed push": _post(port, PUSH, signed),
        }
        hooks_seconds = time.monotonic() - started
    outcome = report.record(
        world.outcome(
            "hostile webhooks",
            f"{IDLE} idle connections on the webhook port, bad HMAC, non-ASCII signature, "
            f"{MAX_BODY_BYTES // 2**20} MiB+1 body",
            time.monotonic(),
            notes=f"probe {probe} in {seconds:.2f}s, the 4 webhook calls in {hooks_seconds:.1f}s; "
            + ", ".join(f"{k}: {v}" for k, v in codes.items()),
        )
    )
    assert probe == 200, world.tail()
    assert seconds < 2.0, "the probes share nothing with the webhook listener"
    assert codes["bad HMAC"] in (401, 403)
    assert codes["non-ASCII signature"] in (400, 401, 403)
    assert codes["body over the limit"] == 413
    assert 200 <= codes["signed push"] < 300
    assert outcome.ok, f"{outcome}\n{world.tail()}"
