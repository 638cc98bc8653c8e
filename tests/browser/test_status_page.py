"""The status page in a real headless Chromium, served by a real ``modelsync run``.

``modelsync run`` (hydrate target) follows a repository served by ``git http-backend`` on
127.0.0.1 with a token written into its URL; once its first pass is done, Debian's chromium,
driven by playwright-core with JavaScript off (``status_page.mjs``), loads ``/`` from the
status listener and reads back the table, the pool bars, the headers and a screenshot. The
screenshot is compared with ``status-page.png`` (pixelmatch); on a difference the actual
image and the diff are left under ``.modelsync/browser/``. After an intended change of the
layout, ``MODELSYNC_UPDATE_SCREENSHOTS=1`` writes a new reference to review and commit.

Chromium, Node.js and the npm tools are required: a missing one fails the test (``.ci/run``
installs chromium; ``make unit`` installs the npm tools).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.fleet import FLEET, TIMESTAMP
from tests.support.controllerhttp import Running
from tests.support.gitfixtures import HTTP_TOKEN
from tests.support.gitserver import GitHttpServer, OriginRepo, free_port
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
CHROMIUM = Path(os.environ.get("MODELSYNC_CHROMIUM", "/usr/bin/chromium"))
TOOLS = ROOT / ".modelsync" / "tools" / "browser"
OUT = ROOT / ".modelsync" / "browser"
REFERENCE = HERE / "status-page.png"
VIEWPORT = {"width": 1200, "height": 640}
#: Pixels that may differ from the reference (anti-aliasing of another chromium build);
#: a moved column, a lost row or a changed bar differs in far more.
TOLERANCE = 0.002


@pytest.fixture(scope="module")
def browser_tools() -> Path:
    """Chromium, node and the npm packages, or a failure that says how to get them."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium; .ci/run does this in CI)")
    if shutil.which("node") is None:
        missing.append("node (Node.js 20+)")
    if not (TOOLS / ".installed").exists():
        missing.append(f"{TOOLS} (make {TOOLS.relative_to(ROOT)}/.installed)")
    if missing:
        pytest.fail("the status page's browser test needs: " + "; ".join(missing))
    return TOOLS


@pytest.fixture
def controller(
    git_http: GitHttpServer,
    git_origin: OriginRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Running]:
    """``modelsync run`` on the fleet, its first pass done, status and webhooks apart."""
    for path, text in FLEET.items():
        git_origin.write(path, text)
    # A fixed commit date gives a fixed commit id, shown on the page and in the screenshot.
    monkeypatch.setenv("GIT_AUTHOR_DATE", TIMESTAMP)
    monkeypatch.setenv("GIT_COMMITTER_DATE", TIMESTAMP)
    git_origin.commit("the fleet")
    url = git_http.url(git_origin.name).replace("http://", f"http://{HTTP_TOKEN}@")
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"cluster: edge\nrepo: {{url: '{url}', branch: main}}\ninterval: 1h\n"
        f"target: hydrate\nlisten: '127.0.0.1:{port}'\nwebhookListen: '127.0.0.1:{free_port()}'\n"
    )
    command = [sys.executable, "-m", "controller", "run", "--config", str(config)]
    command += ["--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state")]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    client = Running.__new__(Running)
    client.url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _first_pass_done(client), timeout=60)
        yield client
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        assert HTTP_TOKEN not in err


def _first_pass_done(client: Running) -> bool:
    try:
        code, body = client.get("/status")
    except OSError:
        return False
    return code == 200 and json.loads(body)["lastPass"] is not None


def load(url: str, tools: Path) -> dict[str, Any]:
    options = {
        "url": url,
        "tools": str(tools),
        "chromium": str(CHROMIUM),
        "reference": str(REFERENCE),
        "out": str(OUT),
        "update": os.environ.get("MODELSYNC_UPDATE_SCREENSHOTS") == "1",
        "viewport": VIEWPORT,
    }
    done = subprocess.run(
        ["node", str(HERE / "status_page.mjs"), json.dumps(options)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"the browser run failed:\n{done.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_status_page_in_chromium(browser_tools: Path, controller: Running) -> None:
    page = load(controller.url + "/", browser_tools)

    assert page["status"] == 200
    headers = page["headers"]
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"].startswith("default-src 'none'; style-src 'sha256-")
    # Nothing but the page itself was fetched, and the CSP let the inline style sheet apply
    # (a blocked one is logged to the console and would leave the page unstyled).
    assert [u for u in page["requests"] if not u.endswith("/favicon.ico")] == [controller.url + "/"]
    assert not [m for m in page["console"] if "Content Security Policy" in m]
    assert page["scripts"] == 0

    assert page["title"] == "modelsync: edge"
    assert page["headings"] == ["modelsync cluster edge", "Workspaces", "GPU capacity"]
    assert page["workspaceHeader"] == [
        "Cluster", "Workspace", "Model", "Pool", "GPUs", "Ready", "Revision", "Last error",
    ]  # fmt: skip
    rows = {cells[1]: cells for cells in page["workspaces"]}
    assert rows["ml/phi"][:5] == ["edge", "ml/phi", "phi-3.5-mini-instruct", "l4", "3"]
    assert rows["ml/phi"][5].split() == ["✓", "Ready", "InstallSucceeded"]
    assert rows["ml/phi"][6:] == ["1", "—"]
    assert rows["research/llama-70b"][2:4] == ["llama-3.3-70b-instruct", "h100"]
    assert rows["ml/mistral"][5].split()[-1] == "Suspended"
    qwen = rows["ml/qwen"]
    assert qwen[2:5] == ["—", "—", "—"]
    assert qwen[5].split()[:3] == ["✗", "Not", "ready"]
    assert "unknown preset 'qwen2.5-coder-7b-instrct'" in qwen[7]
    assert "clusters/edge/qwen.yaml:8" in qwen[7]
    assert len(rows) == 4

    pools = {p["cells"][0]: p for p in page["pools"]}
    assert [p["cells"][:3] for p in page["pools"]] == [
        ["l4", "L4", "3 of 4"],
        ["h100", "H100-80GB", pools["h100"]["cells"][2]],
    ]
    h100_used = int(rows["research/llama-70b"][4]) + int(rows["ml/mistral"][4])
    assert pools["h100"]["cells"][2] == f"{h100_used} of 8"
    for name, used, total in (("l4", 3, 4), ("h100", h100_used, 8)):
        bar = pools[name]
        assert (bar["value"], bar["max"]) == (str(used), str(total))
        assert bar["label"] == f"{name}: {used} of {total} GPUs used"
        assert bar["cells"][3].endswith(f"{used * 100 // total}%")
        assert bar["filled"] == pytest.approx(used / total, abs=0.03)  # what is painted

    assert HTTP_TOKEN not in page["html"]
    assert HTTP_TOKEN not in page["text"]

    shot = page["screenshot"]
    if shot.get("updated"):
        pytest.fail(f"wrote a new reference {REFERENCE}: review it, commit it, run again")
    assert not shot.get("missing"), f"no reference {REFERENCE}; see {shot['actual']}"
    assert not shot.get("sizeDiffers"), f"page size changed: {shot}; see {shot['actual']}"
    assert shot["mismatched"] <= TOLERANCE * shot["pixels"], (
        f"{shot['mismatched']} pixels differ from {REFERENCE.name}: see {shot['diff']} "
        f"and {shot['actual']}"
    )
