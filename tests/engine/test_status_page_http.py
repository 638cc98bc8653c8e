"""The status page at ``/``: headers, escaping, redaction, the empty state, and the words
that carry what colour shows (an overcommitted pool, a suspended row).

An in-process controller (hydrate target) follows a repository served by a real
``git daemon``; the page is fetched with a plain HTTP client. How it looks and reads in a
browser is tests/browser's job.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.engine import page
from tests.support.controllerhttp import CLUSTER, Running, serving, workspace
from tests.support.gitserver import GitDaemon, OriginRepo

HOSTILE = "<img src=x onerror=alert(1)>"
SECRET = "hunter2-not-for-the-page"


@pytest.fixture
def running(git_origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path) -> Iterator[Running]:
    git_origin.write("clusters/edge/cluster.yaml", CLUSTER)
    git_origin.write("clusters/edge/phi.yaml", workspace("phi"))
    # Unknown presets are quoted in the finding, which becomes the row's last error.
    for name, preset in (("hostile", HOSTILE), ("leaky", SECRET)):
        text = workspace(name).replace("phi-3.5-mini-instruct", f"'{preset}'")
        git_origin.write(f"clusters/edge/{name}.yaml", text)
    git_origin.commit("initial")
    with serving(git_origin, git_daemon, tmp_path) as running:
        running.controller.secrets = (SECRET,)
        yield running


def fetch(running: Running) -> tuple[dict[str, str], str]:
    with urllib.request.urlopen(running.url + "/", timeout=5) as response:
        assert response.status == 200
        return dict(response.headers.items()), response.read().decode()


def test_before_the_first_pass_the_page_says_so(running: Running) -> None:
    headers, html = fetch(running)
    assert "not run yet" in html
    assert "No Workspaces yet" in html
    assert "No node pools known yet" in html
    assert headers["Content-Type"] == "text/html; charset=utf-8"


def test_the_csp_allows_the_inline_style_sheet_by_its_hash_and_nothing_else(
    running: Running,
) -> None:
    headers, html = fetch(running)
    css = re.search(r"<style>(.*?)</style>", html, re.DOTALL)
    assert css is not None
    digest = base64.b64encode(hashlib.sha256(css.group(1).encode()).digest()).decode()
    assert headers["Content-Security-Policy"] == (
        f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert "<script" not in html
    assert re.search(r"(src|href)=\"(https?:)?//", html) is None  # nothing loads from elsewhere


def test_values_from_git_are_escaped_and_secrets_redacted(running: Running) -> None:
    running.controller.run_once()
    _, html = fetch(running)
    assert HOSTILE not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert SECRET not in html
    assert "unknown preset &#39;***&#39;" in html
    assert '<th scope="row">default/phi</th>' in html
    assert 'value="1" aria-label="l4: 1 of 4 GPUs used"' in html


def test_an_overcommitted_pool_says_so_in_words_and_a_suspended_row_shows_no_error() -> None:
    html = page.render(
        {
            "cluster": "edge",
            "leader": False,
            "lastPass": {"skipped": "commit unchanged"},
            "workspaces": [
                {
                    "namespace": "ml",
                    "name": "paused",
                    "ready": "True",
                    "suspended": True,
                    "reason": "Suspended",
                    "message": "reconciliation suspended",
                }
            ],
            "pools": [{"name": "l4", "gpu": "L4", "usedGpus": 5, "totalGpus": 4}],
        }
    )
    assert "125% over capacity" in html
    assert 'max="4" low="3.0" high="3.6" optimum="0" value="5"' in html
    assert "reconciliation suspended" not in html
    assert "<dd>standby</dd>" in html
    assert "nothing to do (commit unchanged)" in html
