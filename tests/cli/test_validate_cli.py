"""`modelsync validate` end to end: real files on disk, the three output formats, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from controller.cli.main import main
from controller.core.documents import MAX_FILE_BYTES

REPO = Path(__file__).resolve().parents[2]
GOOD = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {name: phi}
resource: {instanceType: Standard_NC24ads_A100_v4}
inference:
  preset: {name: phi-3.5-mini-instruct}
"""
BAD = GOOD.replace("phi-3.5-mini-instruct", "phi-3.5-mini-instrct")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clusters repo in tmp_path with the prod cluster of this repository."""
    cluster = tmp_path / "clusters" / "prod"
    cluster.mkdir(parents=True)
    (cluster / "cluster.yaml").write_text((REPO / "clusters/prod/cluster.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["validate", *args])
    return code, capsys.readouterr().out


def test_this_repositorys_clusters_validate(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    code, out = run(capsys, "clusters/")
    assert code == 0, out
    assert "ok  prod/default/workspace-phi-3-5-mini: phi-3.5-mini-instruct on pool a100" in out
    assert out.rstrip().splitlines()[-1].startswith("PASS")


def test_a_failing_pull_request_exits_1_with_file_line_and_field(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "clusters/prod/phi.yaml").write_text(BAD)
    code, out = run(capsys)
    assert code == 1
    assert (
        "clusters/prod/phi.yaml:6:18: error: inference.preset.name: unknown preset "
        "'phi-3.5-mini-instrct' (did you mean 'phi-3.5-mini-instruct'?)"
    ) in out
    assert out.rstrip().splitlines()[-1].startswith("FAIL 1 errors")


def test_json_output_is_machine_readable(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "clusters/prod/phi.yaml").write_text(GOOD)
    code, out = run(capsys, "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["valid"] is True
    [ws] = data["workspaces"]
    assert ws["placement"] == {
        "pool": "a100",
        "gpu": "A100-80GB",
        "replicas": 1,
        "gpusPerReplica": 1,
        "nodesPerReplica": 1,
        "tensorParallelSize": 1,
        "pipelineParallelSize": 1,
        "maxModelLen": 131072,
    }
    assert {"pool": "prod/a100", "gpusRequested": 1, "gpus": 4} in data["pools"]


def test_github_format_prints_workflow_annotations(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "clusters/prod/phi.yaml").write_text(BAD)
    code, out = run(capsys, "--format", "github")
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith(
        "::error file=clusters/prod/phi.yaml,line=6,col=18,title=modelsync preset::"
        "inference.preset.name: unknown preset"
    )


def test_explain_prints_the_arithmetic(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "clusters/prod/phi.yaml").write_text(GOOD)
    _, out = run(capsys, "--explain")
    assert (
        "KV cache per token  2 x 32 layers x 32 KV heads/GPU x 96 head dim x 2 B = 393,216 B" in out
    )


def test_usage_errors_exit_2(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "does-not-exist"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "--format", "xml"])
    assert exit_info.value.code == 2


def test_filesystem_refusals_are_findings_and_never_hang(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    prod = repo / "clusters/prod"
    (prod / "good.yaml").write_text(GOOD)
    outside = tmp_path_factory.mktemp("outside") / "secret.yaml"
    outside.write_text("password: hunter2\n")
    (prod / "escape.yaml").symlink_to(outside)
    (prod / "inside.yaml").symlink_to(prod / "good.yaml")
    (prod / "huge.yaml").write_bytes(b"a: " + b"x" * MAX_FILE_BYTES)
    (prod / "latin1.yaml").write_bytes(GOOD.replace("phi}", "ph\xe9}").encode("latin-1"))
    os.mkfifo(prod / "pipe.yaml")  # opening a FIFO would block forever
    code, out = run(capsys, "--format", "json")
    findings = {f["file"]: f for f in json.loads(out)["findings"]}
    assert code == 1
    assert "leaves the repository" in findings["clusters/prod/escape.yaml"]["message"]
    assert "hunter2" not in out
    assert "over the" in findings["clusters/prod/huge.yaml"]["message"]
    assert findings["clusters/prod/latin1.yaml"]["message"] == "not UTF-8 text (byte 0xe9)"
    assert findings["clusters/prod/latin1.yaml"]["line"] == 3
    assert findings["clusters/prod/pipe.yaml"]["message"] == "not a regular file"
    # the in-repo symlink is read; it duplicates good.yaml's Workspace name
    assert findings["clusters/prod/inside.yaml"]["code"] == "duplicate"
    valid = [w["file"] for w in json.loads(out)["workspaces"] if w["valid"]]
    assert valid == ["clusters/prod/good.yaml"]


def test_a_symlink_loop_is_a_finding_not_a_traceback(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = repo / "clusters/prod"
    (prod / "good.yaml").write_text(GOOD)
    (prod / "a.yaml").symlink_to("b.yaml")
    (prod / "b.yaml").symlink_to("a.yaml")
    (prod / "self.yaml").symlink_to("self.yaml")
    code, out = run(capsys, "--format", "json")
    findings = {f["file"]: f for f in json.loads(out)["findings"]}
    assert code == 1
    for name in ("a.yaml", "b.yaml", "self.yaml"):
        assert "symlink loop" in findings[f"clusters/prod/{name}"]["message"]
    valid = [w["file"] for w in json.loads(out)["workspaces"] if w["valid"]]
    assert valid == ["clusters/prod/good.yaml"]


def test_a_file_or_directory_name_with_a_trailing_newline_fails(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "clusters/prod/phi.yaml\n").write_text(GOOD)
    code, out = run(capsys, "--format", "json")
    [finding] = json.loads(out)["findings"]
    assert code == 1
    assert finding["file"] == "clusters/prod/phi.yaml\n"
    assert "control character" in finding["message"]

    (repo / "clusters/prod/phi.yaml\n").unlink()
    (repo / "clusters/dev\n").mkdir()
    (repo / "clusters/dev\n/phi.yaml").write_text(GOOD)
    code, out = run(capsys, "--format", "json")
    assert code == 1
    assert "control character" in json.loads(out)["findings"][0]["message"]


def test_presets_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "list"]) == 0
    listing = capsys.readouterr().out
    assert "phi-3.5-mini-instruct" in listing
    assert "microsoft/Phi-3.5-mini-instruct" in listing
    assert main(["presets", "show", "phi-3.5-mini-instruct"]) == 0
    shown = capsys.readouterr().out
    assert "microsoft/Phi-3.5-mini-instruct @ " in shown
    assert "does NOT fit" not in shown.split("A100-80GB")[1]
    assert main(["presets", "show", "phi-3.5-mini-instrut"]) == 2
    assert "did you mean 'phi-3.5-mini-instruct'" in capsys.readouterr().err


def test_one_file_is_validated_in_its_cluster(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = repo / "clusters/prod"
    for i in range(4):  # fill the a100 pool (max 4 nodes x 1 GPU)
        (prod / f"w{i}.yaml").write_text(GOOD.replace("{name: phi}", f"{{name: w{i}}}"))
    (prod / "new.yaml").write_text(GOOD.replace("{name: phi}", "{name: new}"))
    code, out = run(capsys, "clusters/prod/new.yaml")
    assert code == 1
    assert "clusters/prod/new.yaml" in out
    assert "over capacity" in out
    assert "pool prod/a100: 4 of 4 GPUs requested" in out
    assert "w0.yaml" not in out


def test_nothing_to_validate_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("no clusters here\n")
    code, out = run(capsys, ".")
    assert code == 2
    assert "PASS" not in out


def test_a_reader_that_leaves_early_gets_no_traceback(repo: Path) -> None:
    # `modelsync validate --explain | head -1`: the pipe closes after the first line, while
    # far more than a pipe buffer (64 KiB) is still to be written.
    for i in range(200):
        (repo / "clusters/prod" / f"phi-{i}.yaml").write_text(GOOD.replace("phi}", f"phi-{i}}}"))
    with subprocess.Popen(
        [sys.executable, "-m", "controller", "validate", "clusters", "--explain"],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        assert process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read()
        code = process.wait(timeout=60)
    assert stderr == b""
    assert code == 128 + signal.SIGPIPE


RAG = """\
apiVersion: kaito.sh/v1alpha1
kind: RAGEngine
metadata: {name: docs, namespace: ml-inference}
spec:
  embedding:
    local: {modelID: BAAI/bge-small-en-v1.5}
  inferenceService:
    url: http://qwen-coder-32.ml-inference.svc.cluster.local/v1/chat/completions
    contextWindowSize: 4096
"""


def test_a_rag_engine_naming_no_workspace_fails_at_its_url(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prod = repo / "clusters" / "prod"
    (prod / "qwen.yaml").write_text((REPO / "clusters/prod/qwen-coder-32b-burst.yaml").read_text())
    (prod / "docs.yaml").write_text(RAG)
    code, out = run(capsys, "clusters/prod/docs.yaml")
    assert code == 1
    assert (
        "clusters/prod/docs.yaml:8:10: error: spec.inferenceService.url: names Service "
        "'qwen-coder-32' in namespace ml-inference, but no Workspace "
        "ml-inference/qwen-coder-32 is in this cluster (did you mean 'qwen-coder-32b'?) "
        "[inference]"
    ) in out
    (prod / "docs.yaml").write_text(RAG.replace("qwen-coder-32.", "qwen-coder-32b."))
    code, out = run(capsys, "clusters/prod/docs.yaml", "--format", "json")
    assert code == 0, out
    [engine] = json.loads(out)["workspaces"]
    assert (engine["kind"], engine["name"], engine["valid"]) == ("rag", "docs", True)


def test_a_multi_node_group_is_shown_and_explained(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 131 GiB of Llama 3.3 70B on one-GPU A100 nodes: one group of two nodes.
    big = GOOD.replace("phi-3.5-mini-instruct", "llama-3.3-70b-instruct").replace(
        "{instanceType: Standard_NC24ads_A100_v4}",
        "{instanceType: Standard_NC24ads_A100_v4, count: 2}",
    )
    big = big.replace(
        "  preset: {name: llama-3.3-70b-instruct}",
        "  preset:\n"
        "    name: llama-3.3-70b-instruct\n"
        "    presetOptions: {modelAccessSecret: hf-token}",
    )
    (repo / "clusters/prod/big.yaml").write_text(big)
    code, out = run(capsys, "--explain")
    assert code == 0, out
    assert "on pool a100 (A100-80GB), 1 multi-node group of 2 nodes x 1 GPU, TP 1 x PP 2" in out
    assert "weights per GPU     131.42 GiB / TP 1 x PP 2 = 65.71 GiB" in out
    assert "multi-node group    one LeaderWorkerSet of 2 pods" in out
    assert (
        "clusters/prod/big.yaml:4:59: info: resource.count: the model needs more GPUs than one "
        "node of pool a100 has"
    ) in out
