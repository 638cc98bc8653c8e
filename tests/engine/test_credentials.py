"""No credential in any log line, /status, status page, metric or Event of the controller.

`modelsync run` runs as a subprocess against the token-checking ``git http-backend`` on
127.0.0.1 with credentials written into the repository URL (the two forms people use),
and passes that fail; everything the process says is then searched for the secrets.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from controller import __version__
from controller.adapters.bundled import load_bundle
from controller.adapters.charts import ChartSource
from controller.adapters.gitsource import GitRef, GitSource
from controller.adapters.hydrate import HydrateTarget
from controller.core.redaction import redact
from controller.core.status import Event
from controller.engine.loop import Controller
from controller.engine.sync import Syncer
from tests.support.controllerhttp import CLUSTER, Running
from tests.support.gitserver import GitDaemon, GitHttpServer, OriginRepo, free_port
from tests.support.waiting import wait_for

SECRET = "ghp_wrongButSecret_0123456789abcdef"


@pytest.fixture
def origin(git_origin: OriginRepo) -> OriginRepo:
    """The cluster alone: the Workspaces each test needs are its own."""
    git_origin.write("clusters/edge/cluster.yaml", CLUSTER)
    git_origin.commit("initial")
    return git_origin


def status(client: Running) -> dict[str, object] | None:
    try:
        code, body = client.get("/status")
    except OSError:
        return None
    data: dict[str, object] = json.loads(body)
    return data if code == 200 else None


def failed_twice(client: Running) -> bool:
    shown = status(client)
    return bool(shown and int(str(shown["passes"])) >= 2 and shown["lastPass"])


@pytest.mark.parametrize(
    ("userinfo", "log_format"),
    [(SECRET, "text"), (f"bot:{SECRET}", "text"), (SECRET, "json")],
    ids=["token", "password", "token-json-logs"],
)
def test_a_credential_in_the_repo_url_never_leaves_the_process(
    git_http: GitHttpServer, origin: OriginRepo, tmp_path: Path, userinfo: str, log_format: str
) -> None:
    url = git_http.url(origin.name).replace("http://", f"http://{userinfo}@")
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"cluster: edge\nrepo: {{url: '{url}', branch: main}}\ninterval: 200ms\n"
        f"target: hydrate\nlisten: '127.0.0.1:{port}'\n"
    )
    command = [sys.executable, "-m", "controller", "run", "--config", str(config)]
    command += ["--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state")]
    command += ["--log-format", log_format]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    client = Running.__new__(Running)
    client.url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: failed_twice(client), timeout=30)
        shown = json.dumps(status(client))
        metrics = client.get("/metrics")[1].decode()
        page = client.get("/")[1].decode()
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert "authentication failed" in shown  # the failure is reported, only not the secret
    assert "pass failed" in err
    assert "modelsync_reconcile" in metrics
    assert "failed: fetch failed" in page  # the status page shows the failure too
    for text in (shown, metrics, page, err):
        assert SECRET not in text
    assert redact(url) in err  # the start-up line names the repository, credential hidden
    if log_format == "json":
        lines = [json.loads(line) for line in err.splitlines()]
        assert any(line["message"].startswith(f"modelsync {__version__} run") for line in lines)
        assert {line["level"] for line in lines} >= {"info", "warning"}


def test_events_carry_no_credential(
    git_daemon: GitDaemon, origin: OriginRepo, tmp_path: Path
) -> None:
    # A Workspace whose error message quotes a URL with a password in it, and a
    # controller secret quoted in another: the ValidationFailed Events hide both.
    origin.write(
        "clusters/edge/bad.yaml",
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
        f"metadata: {{name: bad, namespace: 'https://u:{SECRET}@x'}}\n"
        "resource: {}\ninference: {preset: {name: phi-3.5-mini-instruct}}\n",
    )
    origin.write(
        "clusters/edge/worse.yaml",
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
        f"metadata: {{name: worse, namespace: 'x{SECRET}'}}\n"
        "resource: {}\ninference: {preset: {name: phi-3.5-mini-instruct}}\n",
    )
    origin.commit("two invalid Workspaces")
    bundle = load_bundle()
    charts = ChartSource(bundle.charts_dir)
    source = GitSource(git_daemon.url(origin.name), GitRef(branch="main"), tmp_path / "cache")
    syncer = Syncer(
        source=source,
        target=HydrateTarget(tmp_path / "out", charts, "edge"),
        schemas=bundle.schemas,
        catalog=bundle.catalog,
        charts=charts,
        cluster="edge",
    )
    recorded: list[Event] = []

    class Sink:
        def record(self, events: Sequence[Event]) -> None:
            recorded.extend(events)

    controller = Controller(syncer, events=Sink(), secrets=[SECRET])
    controller.run_once()
    assert sorted(e.reason for e in recorded) == ["ValidationFailed"] * 2
    for event in recorded:
        assert SECRET not in event.message
        assert "***" in event.message
