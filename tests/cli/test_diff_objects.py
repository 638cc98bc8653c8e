"""`modelsync diff` beyond Workspaces: RAGEngine releases, and the Karpenter NodePools and
NodeClasses a cluster file's auto-provisioned pools render."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.clonedrepo import commit, run
from tests.support.gitserver import git

AUTO_POOL = """\
    - name: a10-burst
      gpu: A10
      gpusPerNode: 1
      maxNodes: 3
      instanceType: Standard_NV36ads_A10_v5
      labels:
        modelsync.dev/pool: a10-burst
      autoProvision:
        provider: karpenter
"""


def test_a_rag_engine_added_changed_and_removed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rag = repo / "clusters/dev/docs-rag.yaml"
    text = rag.read_text()
    rag.unlink()
    base = commit(repo, "no RAGEngine")
    rag.write_text(text)
    commit(repo, "docs-rag")
    code, out = run(capsys, "diff", "--base", base, "--no-manifests")
    assert code == 1
    assert "+ ml-dev/docs-rag  workspace-rag 0.1.0  added" in out
    assert "+    model: phi-4-mini-instruct" in out  # the Workspace its URL named
    rag.write_text(text.replace("contextWindowSize: 8192", "contextWindowSize: 4096"))
    commit(repo, "docs-rag: 4k")
    code, out = run(capsys, "diff", "--base", "HEAD~1")
    assert "~ ml-dev/docs-rag  workspace-rag 0.1.0  changed" in out
    assert "+    contextWindow: 4096" in out
    assert "+    contextWindow: 4096" in out.split("head/ml-dev/docs-rag.yaml")[1]  # manifests
    rag.unlink()
    commit(repo, "drop docs-rag")
    code, out = run(capsys, "diff", "--base", "HEAD~1")
    assert (code, out.splitlines()[-1]) == (1, "  - ml-dev/docs-rag  workspace-rag 0.1.0  removed")


def test_node_pools_added_changed_and_removed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = repo / "clusters/dev/cluster.yaml"
    cluster.write_text(cluster.read_text() + AUTO_POOL)
    commit(repo, "dev: an auto-provisioned A10 pool")
    code, out = run(capsys, "diff", "--base", "HEAD~1", "--cluster", "dev")
    assert code == 1, out
    assert "cluster dev" in out
    assert "+ NodePool/a10-burst  karpenter.sh/v1  added" in out
    assert "+ AKSNodeClass/a10-burst  karpenter.azure.com/v1beta1  added" in out
    assert "+    nvidia.com/gpu: '3'" in out  # limits: maxNodes x 1 GPU

    cluster.write_text(cluster.read_text().replace("maxNodes: 3", "maxNodes: 4"))
    commit(repo, "a10-burst: 4 nodes")
    code, out = run(capsys, "diff", "--base", "HEAD~1", "--format", "json")
    assert code == 1
    [change] = json.loads(out)["objects"]
    assert (change["kind"], change["objectKind"], change["name"]) == (
        "changed",
        "NodePool",
        "a10-burst",
    )
    assert "-    nvidia.com/gpu: '3'\n" in change["diff"]
    assert "+    nvidia.com/gpu: '4'\n" in change["diff"]

    cluster.write_text(
        cluster.read_text().replace(AUTO_POOL.replace("maxNodes: 3", "maxNodes: 4"), "")
    )
    commit(repo, "drop a10-burst")
    code, out = run(capsys, "diff", "--base", "HEAD~1", "--format", "markdown")
    assert "| - | dev | `NodePool/a10-burst` | karpenter.sh/v1 | removed |" in out
    assert "| - | dev | `AKSNodeClass/a10-burst` | karpenter.azure.com/v1beta1 | removed |" in out


def test_an_invalid_cluster_file_at_head_shows_no_node_pool_removed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # prod has an auto-provisioned pool; its cluster file broken, the controller applies
    # nothing, so nothing it rendered changes.
    cluster = repo / "clusters/prod/cluster.yaml"
    cluster.write_text(cluster.read_text().replace("gpusPerNode: 2", "gpusPerNode: two"))
    commit(repo, "break prod")
    code, out = run(capsys, "diff", "--base", "HEAD~1", "--cluster", "prod", "--no-manifests")
    assert "NodePool" not in out
    assert "! invalid at head: clusters/prod/cluster.yaml" in out
    assert git("status", "--short", cwd=repo) == ""
    assert code in (0, 1)
