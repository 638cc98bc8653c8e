"""`modelsync run` end to end: JSON logs that say each problem once, and notifications.

The controller runs as the chart runs it (a subprocess, config file, secrets as files)
against a git daemon, with the hydrate target; ``tests/support/receiver.py`` on loopback
plays GitHub's status API and the webhook. A commit that breaks one Workspace and pins a
chart that does not exist for another must be told once in the log, however many passes
follow, and reach both receivers as a failure on that commit.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from controller import __version__
from tests.support.controllerhttp import Running, seed, workspace
from tests.support.gitserver import GitDaemon, OriginRepo, free_port
from tests.support.receiver import Receiver, receiver
from tests.support.waiting import wait_for

TOKEN = "ghp_e2eNotifyT0ken0123456789abcdef"
BAD = (
    "apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata: {name: bad}\n"
    "resource: {}\ninference: {preset: {name: no-such-model}}\n"
)


def states(sink: Receiver) -> list[tuple[str, str]]:
    return [(r.path.rsplit("/", 1)[1], r.json()["state"]) for r in sink.on("/repos/")]


def passes(client: Running) -> int:
    try:
        return int(json.loads(client.get("/status")[1])["passes"])
    except (OSError, ValueError, KeyError):
        return 0


def test_problems_are_logged_once_and_rollouts_reach_github_and_the_webhook(
    git_origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path
) -> None:
    origin = seed(git_origin)
    first = origin.git("rev-parse", "HEAD")
    secrets = tmp_path / "notifications"
    secrets.mkdir()
    (secrets / "github-token").write_text(TOKEN + "\n")
    (secrets / "webhook-hmac").write_text("hmac-key\n")
    port = free_port()
    with receiver() as sink:
        config = tmp_path / "config.yaml"
        config.write_text(
            f"cluster: edge\nrepo: {{url: '{git_daemon.url(origin.name)}', branch: main}}\n"
            f"interval: 1h\ntarget: hydrate\nlisten: '127.0.0.1:{port}'\nlogFormat: json\n"
            "notifications:\n"
            f"  github: {{repository: acme/clusters, apiURL: '{sink.url}'}}\n"
            f"  webhook: {{url: '{sink.url}/hook'}}\n"
            "  allowLoopback: true\n"
        )
        command = [sys.executable, "-m", "controller", "run", "--config", str(config)]
        command += ["--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state")]
        command += ["--notifications-dir", str(secrets), "--log-level", "DEBUG"]
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        client = Running.__new__(Running)
        client.url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: states(sink) == [(first, "success")], timeout=30)
            origin.write("clusters/edge/bad.yaml", BAD)
            origin.write(
                "clusters/edge/phi.yaml",
                workspace("phi").replace("{", "{modelsync.dev/chart-version: 9.9.9, ", 1),
            )
            broken = origin.commit("an unknown preset, and a chart that does not exist")
            for n in range(2, 6):  # full passes (SIGHUP: resync), the same problems each time
                process.send_signal(signal.SIGHUP)
                wait_for(lambda n=n: passes(client) >= n, timeout=30)  # type: ignore[misc]
            wait_for(lambda: len(sink.on("/hook")) == 2)
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert states(sink) == [(first, "success"), (broken, "failure")]
    assert sink.on("/repos/")[1].json()["context"] == "modelsync/edge"
    failures = sink.on("/hook")[1].json()["failures"]
    assert sorted((f["file"], f["reason"]) for f in failures) == [
        ("clusters/edge/bad.yaml", "ValidationFailed"),
        ("clusters/edge/phi.yaml", "UpgradeFailed"),
    ]
    lines: list[dict[str, Any]] = [json.loads(line) for line in err.splitlines()]
    start = next(line for line in lines if line["message"].startswith("modelsync "))
    assert (start["version"], start["cluster"]) == (__version__, "edge")
    invalid = [line for line in lines if line.get("reason") == "ValidationFailed"]
    failed = [line for line in lines if line.get("reason") == "UpgradeFailed"]
    assert len(invalid) == 1, invalid
    assert len(failed) == 1, failed
    assert (invalid[0]["file"], invalid[0]["workspace"], invalid[0]["commit"]) == (
        "clusters/edge/bad.yaml", "bad", broken,
    )  # fmt: skip
    assert invalid[0]["level"] == "warning"
    assert "no-such-model" in invalid[0]["message"]
    assert failed[0]["file"] == "clusters/edge/phi.yaml"
    assert TOKEN not in err
