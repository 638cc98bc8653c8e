"""Rollout notifications from the controller loop to a real HTTP receiver on loopback.

A git daemon serves the repository, the hydrate target applies it, and ``tests/support/
receiver.py`` plays GitHub's status API and a Slack-style webhook, recording what it got.
A receiver that hangs or refuses connections stands in for GitHub or Slack being down.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.core.notifications import SIGNATURE_HEADER, NotifySecrets, receivers
from controller.core.status import WorkspaceStatus
from controller.engine import logs
from controller.engine.backoff import Backoff
from controller.engine.notifications import Notifier, read_secrets
from controller.engine.settings import SettingsError
from controller.engine.sync import PassResult
from tests.support.controllerhttp import Running, seed, serving, workspace
from tests.support.gitserver import GitDaemon, OriginRepo, free_port
from tests.support.receiver import Receiver, receiver
from tests.support.waiting import wait_for

TOKEN = "ghp_notifyT0ken0123456789abcdef"
HMAC_KEY = "hmac-k3y-for-the-webhook"
READY = WorkspaceStatus("edge", "ml", "phi", "phi", "clusters/edge/phi.yaml", "True", "InSync", "")


def notifier(url: str, *, attempts: int = 4) -> Notifier:
    config = {
        "github": {"repository": "acme/clusters", "apiURL": url},
        "webhook": {"url": f"{url}/hook"},
        "allowLoopback": True,
    }
    secrets = NotifySecrets(github_token=TOKEN, webhook_hmac=HMAC_KEY)
    to = receivers(config, secrets, cluster="edge", repo_url="", timeout=2.0)
    return Notifier(
        to, secrets=(TOKEN, HMAC_KEY), backoff=Backoff(base=0.05, cap=0.2, attempts=attempts)
    )


@pytest.fixture
def sink() -> Iterator[Receiver]:
    with receiver() as recording:
        yield recording


@pytest.fixture
def running(
    git_origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path, sink: Receiver
) -> Iterator[Running]:
    with serving(seed(git_origin), git_daemon, tmp_path) as running:
        running.controller.notifier = notifier(sink.url)
        running.controller.notifier.start()
        yield running


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """The process's log, as ``modelsync run`` sets it up (JSON, secrets known)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    logs.configure("DEBUG", stream, "json").add_secrets([TOKEN, HMAC_KEY])
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def statuses(sink: Receiver) -> list[tuple[str, str]]:
    return [(r.path.rsplit("/", 1)[1], r.json()["state"]) for r in sink.on("/repos/")]


def test_a_successful_rollout_posts_success_on_the_applied_commit(
    running: Running, sink: Receiver, git_origin: OriginRepo
) -> None:
    result = running.controller.run_once()
    wait_for(lambda: len(sink.requests) == 2)
    assert statuses(sink) == [(result.commit, "success")]
    [status] = sink.on("/repos/acme/clusters/statuses/")
    assert status.headers["Authorization"] == f"Bearer {TOKEN}"
    assert status.json() == {
        "state": "success",
        "context": "modelsync/edge",
        "description": "1 Workspace ready",
    }
    [hook] = sink.on("/hook")
    expected = hmac.new(HMAC_KEY.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers[SIGNATURE_HEADER] == f"sha256={expected}"
    body = hook.json()
    assert body["text"] == (
        f":white_check_mark: modelsync/edge: rollout of {result.commit[:12]} succeeded: "
        "1 Workspace ready"
    )
    assert (body["commit"], body["state"], body["ready"], body["total"]) == (
        result.commit, "success", 1, 1,
    )  # fmt: skip
    running.controller.run_once(full=True)  # same commit, same state: nothing new
    time.sleep(0.3)
    assert len(sink.requests) == 2


def test_a_failed_release_posts_failure_on_its_commit(
    running: Running, sink: Receiver, git_origin: OriginRepo
) -> None:
    first = running.controller.run_once()
    git_origin.write(
        "clusters/edge/phi.yaml",
        workspace("phi").replace(
            "  annotations: {", "  annotations: {modelsync.dev/chart-version: 9.9.9, "
        ),
    )
    broken = git_origin.commit("pin a chart that does not exist")
    result = running.controller.run_once()
    assert result.commit == broken
    assert not result.ok
    wait_for(lambda: len(sink.on("/repos/")) == 2)
    assert statuses(sink) == [(first.commit, "success"), (broken, "failure")]
    description = sink.on("/repos/")[1].json()["description"]
    assert description.startswith("1 failed; phi: UpgradeFailed: ")
    wait_for(lambda: len(sink.on("/hook")) == 2)
    [failure] = sink.on("/hook")[1].json()["failures"]
    assert (failure["file"], failure["reason"]) == ("clusters/edge/phi.yaml", "UpgradeFailed")


def test_a_receiver_that_hangs_does_not_stall_the_loop(running: Running, sink: Receiver) -> None:
    sink.hold = 30.0
    started = time.monotonic()
    running.controller.run_once()
    for _ in range(3):
        running.controller.run_once(full=True)
    assert time.monotonic() - started < 10
    assert running.controller.passes == 4
    wait_for(lambda: len(sink.requests) >= 1)  # the worker is stuck in the first request
    sink.released.set()
    wait_for(lambda: len(sink.requests) == 2)


def test_a_receiver_that_is_down_is_retried_then_given_up_without_the_secret_in_logs(
    running: Running, logged: io.StringIO
) -> None:
    down = notifier(f"http://127.0.0.1:{free_port()}", attempts=3)
    assert running.controller.notifier is not None
    running.controller.notifier.stop()
    running.controller.notifier = down
    down.start()
    started = time.monotonic()
    running.controller.run_once()
    assert time.monotonic() - started < 10
    wait_for(lambda: down.dropped == 2, timeout=15)
    down.stop()
    text = logged.getvalue()
    assert text.count("notification not delivered") == 2
    assert "cannot reach the receiver" in text
    assert TOKEN not in text
    assert HMAC_KEY not in text


def test_a_receiver_that_answers_with_the_token_has_it_redacted(
    running: Running, sink: Receiver, logged: io.StringIO
) -> None:
    sink.statuses = [401, 401]
    sink.reply = f'{{"message": "Bad credentials: {TOKEN}"}}'.encode()
    running.controller.run_once()
    sent = running.controller.notifier
    assert sent is not None
    wait_for(lambda: sent.dropped == 2)  # 401 is not retried
    text = logged.getvalue()
    assert "HTTP 401" in text
    assert TOKEN not in text
    assert len(sink.requests) == 2  # one attempt each


def test_a_full_queue_drops_its_oldest_request_and_observe_never_waits(
    sink: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    sink.hold = 30.0
    to = receivers(
        {"webhook": {"url": f"{sink.url}/hook"}, "allowLoopback": True},
        NotifySecrets(),
        cluster="edge",
        repo_url="",
        timeout=30.0,
    )
    queued = Notifier(to, queue_size=1)
    queued.start()
    caplog.set_level(logging.DEBUG, logger="controller.engine.notifications")
    try:
        commits = [c * 40 for c in "abcd"]
        started = time.monotonic()
        queued.observe(PassResult("edge", commits[0], 0.1, statuses=(READY,)))
        wait_for(lambda: len(sink.requests) == 1)  # the worker is held in the first request
        for commit in commits[1:]:
            queued.observe(PassResult("edge", commit, 0.1, statuses=(READY,)))
        assert time.monotonic() - started < 5
        assert queued.dropped == 2  # b and c; d waits in the queue
        full = [r for r in caplog.records if "queue full" in r.getMessage()]
        assert [r.levelname for r in full] == ["WARNING", "DEBUG"]  # warned once per outage
        sink.released.set()
        wait_for(lambda: len(sink.requests) == 2)
    finally:
        queued.stop()
    assert [r.json()["commit"] for r in sink.requests] == [commits[0], commits[3]]


def test_secret_files_are_optional_but_one_that_cannot_be_read_stops_the_start(
    tmp_path: Path,
) -> None:
    assert read_secrets(tmp_path / "absent") == NotifySecrets()
    (tmp_path / "webhook-hmac").write_text("k3y\n")
    assert read_secrets(tmp_path) == NotifySecrets(webhook_hmac="k3y")
    (tmp_path / "github-token").mkdir()  # a mount gone wrong: a folder where a key should be
    with pytest.raises(SettingsError, match=r"cannot read .*github-token"):
        read_secrets(tmp_path)
