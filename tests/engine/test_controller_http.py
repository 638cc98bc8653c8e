"""The controller process: loop, HTTP endpoints, webhooks, metrics and graceful shutdown.

A real git daemon serves the repository; `modelsync run` runs as a subprocess for the
signal and webhook-latency tests, in-process for the endpoint tests.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.core.webhooks import github_signature
from controller.engine.loop import Controller
from controller.engine.server import App, Server, WebhookSecrets
from controller.engine.settings import Settings, build_syncer
from tests.support.controllerhttp import SECRET, TOKEN, Running, seed, serving, workspace
from tests.support.gitserver import GitDaemon, OriginRepo, free_port
from tests.support.waiting import wait_for


@pytest.fixture
def origin(git_origin: OriginRepo) -> OriginRepo:
    return seed(git_origin)


@pytest.fixture
def running(origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path) -> Iterator[Running]:
    with serving(origin, git_daemon, tmp_path) as running:
        yield running


def push(
    body: dict[str, object], *, secret: bytes = SECRET, event: str = "push", delivery: str = "d-1"
) -> tuple[bytes, dict[str, str]]:
    data = json.dumps(body).encode()
    return data, {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": github_signature(secret, data),
        "Content-Type": "application/json",
    }


def test_probes_status_and_metrics(running: Running) -> None:
    assert running.get("/readyz")[0] == 503  # leader, first pass not done
    running.controller.start()
    wait_for(lambda: running.controller.passes >= 1)
    assert running.get("/healthz") == (200, b"ok\n")
    assert running.get("/readyz") == (200, b"ok\n")
    status = json.loads(running.get("/status")[1])
    assert status["lastPass"]["applied"] == 1
    [row] = status["workspaces"]
    assert (row["name"], row["ready"], row["reason"]) == ("phi", "True", "InstallSucceeded")
    metrics = running.get("/metrics")[1].decode()
    assert 'modelsync_reconciles_total{cluster="edge",result="success"} 1.0' in metrics
    assert (
        'modelsync_workspaces{cluster="edge",kind="inference",state="ready",workspace="phi",'
        'workspace_namespace="default"} 1.0'
    ) in metrics
    assert "modelsync_leader 1.0" in metrics
    assert (
        'modelsync_helm_actions_total{action="install",cluster="edge",result="success"} 1.0'
        in metrics
    )
    assert "modelsync_git_fetch_duration_seconds_count" in metrics
    assert running.get("/nope")[0] == 404


def test_a_signed_push_to_the_followed_branch_triggers_a_pass(
    running: Running, origin: OriginRepo
) -> None:
    running.controller.start()
    wait_for(lambda: running.controller.passes >= 1)
    origin.write("clusters/edge/phi.yaml", workspace("phi", 4096))
    commit = origin.commit("shorter")
    body, headers = push({"ref": "refs/heads/main", "after": commit})
    assert running.post("/webhook/github", body, headers) == (
        202,
        "push to refs/heads/main: fetching\n",
    )
    wait_for(lambda: running.controller.syncer.commit == commit)
    assert running.post("/webhook/github", body, headers) == (202, "delivery already handled\n")


@pytest.mark.parametrize(
    ("body", "headers_change", "status", "message"),
    [
        ({"ref": "refs/heads/main"}, {"X-Hub-Signature-256": "sha256=" + "0" * 64}, 401, "invalid"),
        ({"ref": "refs/heads/main"}, {"X-Hub-Signature-256": ""}, 401, "invalid"),
        # non-ASCII (sent as latin-1): a 401 like any wrong signature, not a 500
        ({"ref": "refs/heads/main"}, {"X-Hub-Signature-256": "sha256=\u00e9" * 9}, 401, "invalid"),
        ({"ref": "refs/heads/dev"}, {}, 202, "push to refs/heads/dev, following refs/heads/main"),
        ({"zen": "hi"}, {"X-GitHub-Event": "ping"}, 200, "pong"),
        ({"action": "opened"}, {"X-GitHub-Event": "pull_request"}, 202, "ignored event"),
    ],
)
def test_webhooks_that_must_not_trigger(
    running: Running,
    body: dict[str, object],
    headers_change: dict[str, str],
    status: int,
    message: str,
) -> None:
    data, headers = push(body)
    if "X-GitHub-Event" in headers_change:  # re-sign: only the event header differs
        headers["X-GitHub-Event"] = headers_change["X-GitHub-Event"]
    else:
        headers |= headers_change
    code, text = running.post("/webhook/github", data, headers)
    assert code == status
    assert message in text
    assert running.controller._reasons == []


def test_oversized_bodies_and_the_generic_token(running: Running) -> None:
    # Announce a body over the limit and send none: the server must refuse it from the header.
    connection = http.client.HTTPConnection(running.url.removeprefix("http://"), timeout=5)
    connection.putrequest("POST", "/webhook/github")
    connection.putheader("X-GitHub-Event", "push")
    connection.putheader("Content-Length", str(6 * 1024 * 1024))
    connection.endheaders()
    assert connection.getresponse().status == 413
    connection.close()
    assert running.post("/webhook/generic", b"", {"Authorization": "Bearer wrong"})[0] == 401
    assert running.post("/webhook/generic", b"", {})[0] == 401
    ok = running.post("/webhook/generic", b"", {"Authorization": "Bearer " + TOKEN.decode()})
    assert ok == (202, "fetching\n")
    assert running.controller._reasons == ["generic webhook"]


def test_webhooks_are_off_without_secrets(
    origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path
) -> None:
    settings = Settings(
        cluster="edge",
        repo=git_daemon.url(origin.name),
        target="hydrate",
        out=tmp_path / "out",
        state_dir=tmp_path / "state",
    )
    app = App(
        Controller(build_syncer(settings)),
        WebhookSecrets(),
        followed_ref="refs/heads/main",
        stale_after=600,
    )
    server = Server(app, "127.0.0.1:0")
    server.start()
    try:
        body, headers = push({"ref": "refs/heads/main"})
        assert Running(app.controller, server).post("/webhook/github", body, headers)[0] == 404
    finally:
        server.stop()


def test_modelsync_run_applies_a_webhook_push_fast_and_stops_cleanly_on_sigterm(
    origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path
) -> None:
    port = free_port()
    (tmp_path / "webhook").mkdir()
    (tmp_path / "webhook" / "secret").write_bytes(SECRET)
    config = tmp_path / "config.yaml"
    config.write_text(
        f"cluster: edge\nrepo: {{url: '{git_daemon.url(origin.name)}', branch: main}}\n"
        f"interval: 1h\ntarget: hydrate\nlisten: '127.0.0.1:{port}'\n"
    )
    command = [
        sys.executable,
        "-m",
        "controller",
        "run",
        "--config",
        str(config),
        "--out",
        str(tmp_path / "out"),
        "--state-dir",
        str(tmp_path / "state"),
        "--webhook-dir",
        str(tmp_path / "webhook"),
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    client = Running.__new__(Running)
    client.url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ok(client, "/readyz"), timeout=20)
        origin.write("clusters/edge/phi.yaml", workspace("phi", 2048))
        commit = origin.commit("webhook me")
        body, headers = push({"ref": "refs/heads/main", "after": commit})
        started = time.monotonic()
        assert client.post("/webhook/github", body, headers)[0] == 202
        wait_for(lambda: json.loads(client.get("/status")[1])["commit"] == commit, timeout=10)
        latency = time.monotonic() - started
        assert "maxModelLen: 2048" in (tmp_path / "out/edge/default/phi.yaml").read_text()
        print(f"webhook-to-applied latency: {latency:.3f}s")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "received SIGTERM" in err


def _ok(client: Running, path: str) -> bool:
    try:
        return client.get(path)[0] == 200
    except OSError:
        return False
