"""`modelsync presets add` on snapshots the tests write, and `validate` using the result.

Nothing reaches the Hugging Face Hub: each test writes config.json and safetensors files
(headers plus zero bytes) in the layouts the Hub and its cache use, and $HF_ENDPOINT names
a closed port on 127.0.0.1, so a test that asked the Hub would fail to reach it
(test_presets_add_hub.py serves a fake Hub).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controller.cli.main import main
from tests.cli.tinymodel import REV, snapshot

WORKSPACE = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {name: tiny}
resource: {instanceType: Standard_NC24ads_A100_v4}
inference:
  preset: {name: acme/Tiny-Qwen}
"""


@pytest.fixture(autouse=True)
def no_hub(monkeypatch: pytest.MonkeyPatch, closed_port: int) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)


def add(*args: str) -> int:
    return main(["presets", "add", "acme/Tiny-Qwen", *args])


def test_a_single_file_snapshot_becomes_a_preset_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size = snapshot(tmp_path / "snap" / REV)
    assert add("--from", str(tmp_path / "snap" / REV), "--out", str(tmp_path / "presets")) == 0
    written = tmp_path / "presets" / "tiny-qwen.yaml"
    body = yaml.safe_load(written.read_text())
    assert body["model"]["revision"] == REV
    assert body["model"]["weightBytes"] == size
    assert body["model"]["parameters"] == 2 * (64 * 64 + 32 * 64)
    assert body["model"]["license"] == "apache-2.0"
    assert body["tuning"]["targetModules"] == ["q_proj", "v_proj"]
    assert written.read_text().startswith("# acme/Tiny-Qwen at " + REV)
    assert "wrote" in capsys.readouterr().out
    # A second run does not overwrite the reviewed file without --force.
    assert add("--from", str(tmp_path / "snap" / REV), "--out", str(tmp_path / "presets")) == 2
    assert (
        add("--from", str(tmp_path / "snap" / REV), "--out", str(tmp_path / "presets"), "--force")
        == 0
    )


def test_the_hugging_face_cache_layout_is_found_through_hf_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "hf" / "hub" / "models--acme--Tiny-Qwen"
    size = snapshot(repo / "snapshots" / REV, sharded=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REV)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    assert add("--out", str(tmp_path / "presets")) == 0
    body = yaml.safe_load((tmp_path / "presets" / "tiny-qwen.yaml").read_text())
    assert (body["model"]["revision"], body["model"]["weightBytes"]) == (REV, size)
    assert body["model"]["parameters"] == 2 * (64 * 64 + 32 * 64)
    assert body["sources"][1].endswith(f"/blob/{REV}/model.safetensors.index.json")
    # --revision names a branch the cache recorded, or the commit itself.
    (repo / "refs" / "v1.0").write_text(REV)
    for revision in ("v1.0", REV):
        assert add("--revision", revision, "--out", str(tmp_path / revision), "--force") == 0
        assert yaml.safe_load((tmp_path / revision / "tiny-qwen.yaml").read_text()) == body


def test_hf_hub_cache_wins_over_hf_home_and_a_missing_revision_goes_to_the_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "cache" / "models--acme--Tiny-Qwen"
    snapshot(repo / "snapshots" / REV)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REV)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "elsewhere"))
    assert add("--out", str(tmp_path / "presets")) == 0
    assert "from the Hugging Face cache" in (tmp_path / "presets" / "tiny-qwen.yaml").read_text()
    capsys.readouterr()
    # A branch the cache never saw is the Hub's to resolve; here the Hub is unreachable.
    assert add("--revision", "dev", "--out", str(tmp_path / "dev")) == 2
    err = capsys.readouterr().err
    assert "cannot reach http://127.0.0.1:" in err
    assert "--from DIR" in err
    assert not (tmp_path / "dev").exists()


def test_an_index_without_its_shards_derives_parameters_and_says_so(tmp_path: Path) -> None:
    size = snapshot(tmp_path / REV, sharded=True, shards_present=False)
    assert add("--from", str(tmp_path / REV), "--out", str(tmp_path / "presets")) == 0
    text = (tmp_path / "presets" / "tiny-qwen.yaml").read_text()
    assert f"parameters: {size // 2}" in text
    assert "# parameters: DERIVED" in text


def test_what_cannot_be_read_is_said_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert add("--out", str(tmp_path / "presets")) == 1
    assert "hf download acme/Tiny-Qwen" in capsys.readouterr().err
    assert add("--revision", "../main", "--out", str(tmp_path / "presets")) == 1
    assert "--revision must be a commit, branch or tag" in capsys.readouterr().err
    snapshot(tmp_path / "unpinned")
    assert add("--from", str(tmp_path / "unpinned"), "--out", str(tmp_path / "presets")) == 1
    assert "--revision" in capsys.readouterr().err
    assert add("--from", str(tmp_path / "unpinned"), "--revision", "main") == 1
    assert "with --from, --revision must be the 40-hex commit" in capsys.readouterr().err
    assert main(["presets", "add", "microsoft/phi-4"]) == 2
    assert "bundled preset 'phi-4'" in capsys.readouterr().err
    assert not (tmp_path / "presets").exists()


def test_validate_sizes_a_workspace_with_the_repos_own_preset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(__file__).resolve().parents[2]
    cluster = tmp_path / "clusters" / "prod"
    cluster.mkdir(parents=True)
    (cluster / "cluster.yaml").write_text((root / "clusters/prod/cluster.yaml").read_text())
    (cluster / "tiny.yaml").write_text(WORKSPACE)
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    assert "run `modelsync presets add acme/Tiny-Qwen`" in capsys.readouterr().out
    snapshot(tmp_path / "snap" / REV)
    assert add("--from", str(tmp_path / "snap" / REV)) == 0
    capsys.readouterr()
    code = main(["validate", "clusters/prod/tiny.yaml"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "prod/default/tiny: tiny-qwen on pool" in out
    assert main(["presets", "show", "acme/Tiny-Qwen"]) == 0
    assert capsys.readouterr().out.startswith("tiny-qwen  (qwen2)")
