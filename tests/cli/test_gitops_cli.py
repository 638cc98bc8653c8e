"""`modelsync sync`, `status`, `diff` and `render` on a local repository built commit by commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from controller.cli.main import main
from tests.cli.clonedrepo import commit, run
from tests.support.gitserver import git


def test_sync_twice_then_status(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "sync", "--repo", ".", "--cluster", "dev", "--out", "out")
    assert code == 0, out
    assert "install   ml-dev/phi-4-mini  ok" in out
    assert "install   ml-dev/docs-rag  ok" in out  # the RAGEngine beside the Workspaces
    assert "3 applied" in out
    code, out = run(capsys, "sync", "--repo", ".", "--cluster", "dev", "--out", "out")
    assert code == 0
    assert "nothing to do, 3 releases in sync" in out
    code, out = run(capsys, "status", "--out", "out")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == [
        "NAMESPACE",
        "NAME",
        "CLUSTER",
        "REVISION",
        "SUSPENDED",
        "READY",
        "MESSAGE",
    ]
    assert rows[1].split()[:6] == ["ml-dev", "docs-rag", "dev", "1", "False", "True"]
    assert rows[2].split()[:6] == ["ml-dev", "phi-4-mini", "dev", "1", "False", "True"]
    code, out = run(capsys, "status", "--out", "out", "--format", "json")
    assert {r["reason"] for r in json.loads(out)} == {"InSync"}


def test_sync_dry_run_and_usage_errors(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "sync", "--repo", ".", "--cluster", "dev", "--out", "out", "--dry-run")
    assert code == 0
    assert "would install   ml-dev/phi-4-mini" in out
    assert not (repo / "out").exists()
    # prod's cluster file names no branch: hydrating it needs somewhere to write
    assert main(["sync", "--repo", ".", "--cluster", "prod", "--target", "hydrate"]) == 2
    assert "needs --out DIR or a branch" in capsys.readouterr().err
    assert main(["sync", "--repo", str(repo / "nowhere"), "--cluster", "dev", "--out", "o"]) == 2


def test_the_summary_counts_failed_actions_apart_from_applied_ones(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = repo / "clusters/dev/phi-4-mini.yaml"
    dev.write_text(
        dev.read_text().replace(
            "  annotations:\n", "  annotations:\n    modelsync.dev/chart-version: 9.9.9\n"
        )
    )
    commit(repo, "phi-4-mini: a chart version that does not exist")

    code, out = run(capsys, "sync", "--repo", ".", "--cluster", "dev", "--out", "out")

    assert code == 1, out
    assert "install   ml-dev/phi-4-mini  FAILED" in out
    assert out.splitlines()[-1].startswith("dev at ")
    assert ": 2 applied, 1 failed, 0 unchanged" in out.splitlines()[-1]


def test_sync_says_which_releases_it_keeps_for_a_broken_file(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "sync", "--repo", ".", "--cluster", "dev", "--out", "out")[0] == 0
    git("mv", "clusters/dev/phi-4-mini.yaml", "clusters/dev/models.yaml", cwd=repo)
    (repo / "clusters/dev/models.yaml").write_text("kind: Workspace\nmetadata: [\n")
    commit(repo, "rename and break")

    code, out = run(capsys, "sync", "--repo", ".", "--cluster", "dev", "--out", "out")

    assert code == 1, out
    assert "kept     ml-dev/phi-4-mini  (clusters/dev/models.yaml cannot be read" in out
    # docs-rag names phi-4-mini: a file that cannot be read may be it; docs-rag waits for it.
    assert "invalid  clusters/dev/docs-rag.yaml:15: spec.inferenceService.url" in out
    assert "kept     ml-dev/docs-rag" in out
    assert "nothing to do, 1 releases in sync, 2 kept for invalid files" in out
    assert (repo / "out/dev/ml-dev/phi-4-mini.yaml").is_file()


def test_hydrate_to_the_branch_the_cluster_file_names(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # clusters/dev/cluster.yaml: target {kind: hydrate, branch: environments/dev}
    code, out = run(capsys, "sync", "--repo", ".", "--cluster", "dev")
    assert code == 0, out
    files = git("ls-tree", "-r", "--name-only", "environments/dev", cwd=repo).split()
    assert files == [
        "ml-dev/deepseek-r1-llama-8b.yaml",
        "ml-dev/docs-rag.yaml",
        "ml-dev/phi-4-mini.yaml",
        "modelsync.ledger",
    ]
    first = git("rev-parse", "environments/dev", cwd=repo)
    assert "install ml-dev/phi-4-mini" in git("log", "-1", "--format=%B", first, cwd=repo)
    # An edit that changes no release: no new branch commit.
    readme = repo / "clusters/dev/NOTES.md"
    readme.write_text("notes\n")
    commit(repo, "notes")
    run(capsys, "sync", "--repo", ".", "--cluster", "dev")
    assert git("rev-parse", "environments/dev", cwd=repo) == first
    # A change: one commit on top, with the one release re-rendered.
    dev = repo / "clusters/dev/phi-4-mini.yaml"
    dev.write_text(dev.read_text().replace('"16384"', '"8192"'))
    commit(repo, "phi-4-mini: 8k")
    code, out = run(capsys, "sync", "--repo", ".", "--cluster", "dev")
    assert "upgrade   ml-dev/phi-4-mini" in out
    assert git("rev-parse", "environments/dev~1", cwd=repo) == first
    shown = git("show", "environments/dev:ml-dev/phi-4-mini.yaml", cwd=repo)
    assert "maxModelLen: 8192" in shown


def test_hydrating_onto_the_followed_branch_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = git("rev-parse", "main", cwd=repo)
    for args in (["--hydrate-branch", "main"], ["--branch", "main", "--hydrate-branch", "main"]):
        assert main(["sync", "--repo", ".", "--cluster", "dev", *args]) == 2
        assert "is the branch the Workspaces are read from" in capsys.readouterr().err
    assert git("rev-parse", "main", cwd=repo) == head
    assert (repo / "clusters/dev/cluster.yaml").exists()


def test_diff_shows_added_changed_and_removed(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = git("rev-parse", "HEAD", cwd=repo)
    prod = repo / "clusters/prod"
    text = (prod / "mistral-7b-l4.yaml").read_text().replace('"8192"', '"4096"')
    (prod / "mistral-7b-l4.yaml").write_text(text)
    (prod / "gpt-oss-20b.yaml").unlink()
    (repo / "clusters/dev/phi-4-mini.yaml").rename(repo / "clusters/dev/phi-4-mini-b.yaml")
    renamed = (repo / "clusters/dev/phi-4-mini-b.yaml").read_text()
    (repo / "clusters/dev/phi-4-mini-b.yaml").write_text(renamed.replace("phi-4-mini\n", "phi-b\n"))
    commit(repo, "change")
    code, out = run(capsys, "diff", "--base", base)
    assert code == 1
    assert "+ ml-dev/phi-b  workspace-inference 0.1.0  added" in out
    assert "- ml-dev/phi-4-mini  workspace-inference 0.1.0  removed" in out
    assert "- ml-inference/gpt-oss-20b" in out
    assert "~ default/mistral-7b  workspace-inference 0.1.0  changed" in out
    assert "-    maxModelLen: 8192" in out
    assert "+    maxModelLen: 4096" in out
    assert "+    maxModelLen: 4096" in out.split("head/default/mistral-7b.yaml")[1]  # manifests
    code, out = run(capsys, "diff", "--base", base, "--format", "markdown", "--cluster", "prod")
    assert out.startswith("### modelsync diff")
    assert "| ~ | prod | `default/mistral-7b` | workspace-inference 0.1.0 | changed |" in out
    assert "phi-b" not in out
    code, out = run(capsys, "diff", "--base", "HEAD")
    assert (code, out.splitlines()[-1]) == (0, "no release changes")


def test_diff_of_an_unknown_cluster_is_a_usage_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["diff", "--base", "HEAD", "--cluster", "dve", "--no-manifests"])
    captured = capsys.readouterr()
    assert code == 2
    assert "no cluster 'dve' under clusters/ (did you mean 'dev'?)" in captured.err
    assert captured.out == ""


def test_diff_keeps_releases_of_files_broken_at_head(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = git("rev-parse", "HEAD", cwd=repo)
    (repo / "clusters/prod/gpt-oss-20b.yaml").write_text("kind: Workspace\nmetadata: [\n")
    commit(repo, "break")
    code, out = run(capsys, "diff", "--base", base)
    assert code == 0
    assert "! invalid at head: clusters/prod/gpt-oss-20b.yaml" in out


def test_diff_keeps_releases_of_files_renamed_and_broken_at_head(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = git("rev-parse", "HEAD", cwd=repo)
    git("mv", "clusters/prod/gpt-oss-20b.yaml", "clusters/prod/gpt.yaml", cwd=repo)
    (repo / "clusters/prod/gpt.yaml").write_text("kind: Workspace\nmetadata: [\n")
    commit(repo, "rename and break")
    code, out = run(capsys, "diff", "--base", base)
    assert code == 0
    assert "! invalid at head: clusters/prod/gpt.yaml" in out
    assert "gpt-oss-20b" not in out


def test_render_prints_manifests_or_values(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "render", "clusters/prod/llama-3-3-70b.yaml")
    assert code == 0
    assert "kind: Deployment" in out
    assert "nvidia.com/gpu: 4" in out
    code, out = run(capsys, "render", "clusters/prod/llama-3-3-70b.yaml", "--values")
    assert "tensorParallelSize: 4" in out
    (repo / "clusters/prod/bad.yaml").write_text(
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata: {name: bad}\nresource: {}\n"
    )
    assert main(["render", "clusters/prod/bad.yaml"]) == 1
    assert "exactly one of inference and tuning" in capsys.readouterr().err


def test_render_renders_each_workspace_of_a_file_and_leaves_out_other_kinds(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # KAITO's examples/inference/kaito_workspace_custom_config.yaml: a ConfigMap, then the
    # Workspace that names it; here with a custom pod template Workspace after them.
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: params, namespace: ml-inference}\n"
        "data: {inference_config.yaml: 'vllm: {}'}\n---\n"
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
        "metadata: {name: first, namespace: ml-inference}\n"
        "resource: {instanceType: Standard_NC24ads_A100_v4}\n"
        "inference: {preset: {name: phi-3.5-mini-instruct}, config: params}\n---\n"
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
        "metadata: {name: second, namespace: ml-inference}\n"
        "resource: {instanceType: Standard_NC24ads_A100_v4}\n"
        "inference:\n  template:\n    spec:\n      containers:\n"
        "        - {name: server, image: 'ghcr.io/acme/server:1.0'}\n"
    )
    (repo / "clusters/prod/pair.yaml").write_text(text)
    code, out = run(capsys, "render", "clusters/prod/pair.yaml")
    assert code == 0
    deployments = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment"]
    assert [d["metadata"]["name"] for d in deployments] == ["first", "second"]
    containers = deployments[1]["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == ["ghcr.io/acme/server:1.0"]
    # The template left its security settings unset: the chart fills in the restricted ones.
    assert containers[0]["securityContext"]["allowPrivilegeEscalation"] is False
    assert deployments[1]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_render_refuses_a_custom_pod_template_that_asks_for_privileges(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "clusters/prod/root.yaml").write_text(
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
        "metadata: {name: root, namespace: ml-inference}\n"
        "resource: {instanceType: Standard_NC24ads_A100_v4}\n"
        "inference:\n  template:\n    spec:\n      containers:\n"
        "        - name: server\n          image: 'ghcr.io/acme/server:1.0'\n"
        "          securityContext: {privileged: true}\n"
    )
    assert main(["render", "clusters/prod/root.yaml"]) == 1
    assert "privileged" in capsys.readouterr().err


def test_sync_succeeds_with_a_configmap_beside_a_workspace(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    phi = (repo / "clusters/dev/phi-4-mini.yaml").read_text()
    configmap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: params}\ndata: {a: b}\n"
    (repo / "clusters/dev/phi-4-mini.yaml").write_text(configmap + "---\n" + phi)
    commit(repo, "a ConfigMap before the Workspace, as KAITO's examples have")
    code, out = run(capsys, "sync", "--repo", ".", "--cluster", "dev", "--out", "out")
    assert code == 0, out
    assert "install   ml-dev/phi-4-mini  ok" in out
