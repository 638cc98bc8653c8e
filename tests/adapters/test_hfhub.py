"""adapters/hfhub.py against a plain static file server that does not honour Range.

Python's ``http.server`` answers a Range request with the whole file (200), as some mirrors
and caching proxies in front of the Hub do; the adapter must still read just the header
bytes it asked for and stop reading. The Hub's own behaviour (206, refusals, redirects) is
tested end to end with tests/cli/fakehub.py.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from controller.adapters.hfhub import HubError, hub_endpoint, hub_token, open_hub
from controller.adapters.hfsnapshot import read_header
from tests.cli.tinymodel import REV, snapshot


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output to what the test says."""


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[str]:
    """``tmp_path/www`` served as a Hub mirror for ``acme/Tiny-Qwen`` at REV."""
    files = tmp_path / "www" / "acme" / "Tiny-Qwen" / "resolve" / REV
    snapshot(files)
    info = tmp_path / "www" / "api" / "models" / "acme" / "Tiny-Qwen" / "revision" / "main"
    info.parent.mkdir(parents=True)
    siblings = [{"rfilename": p.name} for p in files.iterdir()]
    info.write_text(json.dumps({"sha": REV, "gated": False, "siblings": siblings}))
    handler = functools.partial(_Quiet, directory=str(tmp_path / "www"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_server_ignoring_range_still_gives_just_the_header(mirror: str, tmp_path: Path) -> None:
    hub = open_hub("acme/Tiny-Qwen", None, token=None, env={"HF_ENDPOINT": mirror + "/"})
    try:
        assert (hub.revision, hub.gated, hub.endpoint) == (REV, False, mirror)
        assert hub.has("config.json")
        assert not hub.has("model.safetensors.index.json")
        assert hub.text("tokenizer_config.json") is None
        local = tmp_path / "www" / "acme" / "Tiny-Qwen" / "resolve" / REV / "model.safetensors"
        assert hub.header("model.safetensors") == read_header(local)
        assert hub.where("config.json") == f"{mirror}/acme/Tiny-Qwen/resolve/{REV}/config.json"
    finally:
        hub.close()


def test_a_bare_404_without_the_hubs_error_code_reads_as_not_found(mirror: str) -> None:
    with pytest.raises(HubError, match=r"acme/Tiny-Qwen@v9 is not on the Hub \(HTTP 404"):
        open_hub("acme/Tiny-Qwen", "v9", token=None, env={"HF_ENDPOINT": mirror})


def test_the_token_file_wins_over_hf_token_and_must_hold_one(tmp_path: Path) -> None:
    env = {"HF_TOKEN": " hf_fromEnv \n"}
    assert hub_token(None, env) == "hf_fromEnv"
    assert hub_token(None, {}) is None
    (tmp_path / "token").write_text("hf_fromFile\n")
    assert hub_token(tmp_path / "token", env) == "hf_fromFile"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(HubError, match="is empty"):
        hub_token(tmp_path / "empty", env)
    with pytest.raises(HubError, match="cannot read --token-file"):
        hub_token(tmp_path / "missing", env)
    assert hub_endpoint({}) == "https://huggingface.co"
