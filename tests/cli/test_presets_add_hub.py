"""`modelsync presets add ORG/MODEL` asking the Hub, end to end against a fake Hub.

tests/cli/fakehub.py serves files the tests write (tests/cli/tinymodel.py) in the Hub's URL
layout on 127.0.0.1, with $HF_ENDPOINT pointing at it and an empty Hugging Face cache. What
the Hub gives must become the same preset as the same files read with --from, read without
downloading a safetensors file's tensor data, and pinned to the commit the Hub resolved.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from controller.cli.main import main
from tests.cli.fakehub import FakeHub, FakeRepo, serving
from tests.cli.tinymodel import REV, snapshot

SHARDED_REV = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "hf_fakeTokenThatMustNeverBeShown0123"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    snapshot(tmp_path / "files" / "single")
    snapshot(tmp_path / "files" / "sharded", sharded=True)
    shutil.copytree(tmp_path / "files" / "single", tmp_path / "files" / "gated")
    repos = {
        "acme/Tiny-Qwen": FakeRepo(tmp_path / "files" / "single", REV),
        "acme/Sharded-Qwen": FakeRepo(
            tmp_path / "files" / "sharded", SHARDED_REV, refs={"v1.0": SHARDED_REV}
        ),
        "acme/Gated-Qwen": FakeRepo(tmp_path / "files" / "gated", REV, token=TOKEN),
    }
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    for name in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with serving(FakeHub(repos)) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def add(model: str, out: Path, *args: str) -> int:
    return main(["presets", "add", model, "--out", str(out), *args])


def written(out: Path) -> tuple[dict[str, object], list[str]]:
    """The preset file's body and its header lines, less the two that say where from."""
    [path] = out.glob("*.yaml")
    text = path.read_text()
    header = [line for line in text.splitlines() if line.startswith("# ")]
    kept = [line for line in header[1:] if not line.startswith("# gated:")]
    return yaml.safe_load(text), kept


#: (model, the files the fake Hub serves for it, extra arguments, the commit it resolves to)
CASES = [
    ("acme/Tiny-Qwen", "single", (), REV),
    ("acme/Sharded-Qwen", "sharded", ("--revision", "v1.0"), SHARDED_REV),
]


@pytest.mark.parametrize("case", CASES, ids=["single-file", "sharded-at-a-tag"])
def test_the_hub_gives_the_preset_the_same_files_give_from_disk(
    hub: FakeHub,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: tuple[str, str, tuple[str, ...], str],
) -> None:
    model, files, args, sha = case
    assert add(model, tmp_path / "from-hub", *args) == 0, capsys.readouterr().err
    local = tmp_path / "files" / files
    assert add(model, tmp_path / "from-disk", "--from", str(local), "--revision", sha) == 0
    hub_body, hub_header = written(tmp_path / "from-hub")
    assert (hub_body, hub_header) == written(tmp_path / "from-disk")
    [path] = (tmp_path / "from-hub").glob("*.yaml")
    assert path.read_text().startswith(
        f"# {model} at {sha}, written by `modelsync presets add` from the Hub ({hub.url})"
    )
    assert f"revision: {sha}" in path.read_text()
    # The headers' element counts were read: parameters are counted, not DERIVED.
    assert not any("DERIVED" in line for line in hub_header)

    resolved = [s.path for s in hub.seen if "/resolve/" in s.path]
    assert resolved
    assert all(f"/resolve/{sha}/" in p for p in resolved)
    weights = [s for s in hub.seen if s.path.startswith("/cdn/")]
    shards = sorted(p.name for p in local.glob("*.safetensors"))
    # Each safetensors file: its 8-byte length, then its JSON header; never tensor data.
    assert sorted({s.path.rsplit("/", 1)[1] for s in weights}) == shards
    assert len(weights) == 2 * len(shards)
    for seen in weights:
        data = (local / seen.path.rsplit("/", 1)[1]).read_bytes()
        header_end = 8 + int.from_bytes(data[:8], "little") - 1
        assert seen.range in ("bytes=0-7", f"bytes=8-{header_end}")
        assert seen.sent == (8 if seen.range == "bytes=0-7" else header_end - 7)
        assert header_end < len(data) - 1  # there was tensor data left unread


def test_a_gated_model_needs_a_token_which_is_sent_and_never_shown(
    hub: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert add("acme/Gated-Qwen", tmp_path / "none") == 2
    err = capsys.readouterr().err
    assert "needs a token" in err
    assert "HF_TOKEN" in err
    assert "--token-file" in err

    monkeypatch.setenv("HF_TOKEN", "hf_someoneElsesToken")
    assert add("acme/Gated-Qwen", tmp_path / "none") == 2
    err = capsys.readouterr().err
    assert "refused the token" in err
    assert "hf_someoneElses" not in err
    assert not (tmp_path / "none").exists()

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    outputs = []
    assert add("acme/Gated-Qwen", tmp_path / "by-file", "--token-file", str(token_file)) == 0
    outputs.append(capsys.readouterr())
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert add("acme/Gated-Qwen", tmp_path / "by-env") == 0
    outputs.append(capsys.readouterr())
    for out in ("by-file", "by-env"):
        text = (tmp_path / out / "gated-qwen.yaml").read_text()
        assert TOKEN not in text
        body = yaml.safe_load(text)
        assert body["model"]["gated"] is True
        assert "# gated: true, as the Hub's model API says." in text
    assert all(TOKEN not in o.out + o.err for o in outputs)

    to_hub = [s for s in hub.seen if "/Gated-Qwen/resolve/" in s.path and s.host == "127.0.0.1"]
    assert any(s.authorization == f"Bearer {TOKEN}" for s in to_hub)
    # The token stays with the Hub: the redirect to the CDN host does not carry it.
    cdn = [s for s in hub.seen if s.path.startswith("/cdn/acme/Gated-Qwen/")]
    assert cdn
    assert all(s.host == "localhost" and s.authorization is None for s in cdn)


def test_what_the_hub_refuses_is_said_with_exit_code_2(
    hub: FakeHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert add("acme/No-Such-Model", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "acme/No-Such-Model@main is not on the Hub (HTTP 401, RepoNotFound)" in err
    assert "if it is private, set HF_TOKEN" in err
    assert add("acme/Tiny-Qwen", tmp_path / "out", "--revision", "no-such-branch") == 2
    assert "acme/Tiny-Qwen@no-such-branch: no such revision" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unreachable_hub_says_that_from_works_offline(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    closed_port: int,
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}/")
    assert add("acme/Tiny-Qwen", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"cannot reach http://127.0.0.1:{closed_port} (ConnectionError)" in err
    assert "`--from DIR`" in err
    assert not (tmp_path / "out").exists()
