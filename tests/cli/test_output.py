"""``-o table|json|yaml`` on every command that prints data: JSON and YAML parse back to the
same document, ``-o table`` is the default human form, and the older ``--format`` names keep
working beside ``-o`` (but not with it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.cli.main import main
from tests.cli.clonedrepo import cloned_clusters, commit
from tests.support.gitserver import git


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This repository's clusters/ committed twice: dev's deepseek-r1-llama-8b is removed in
    HEAD."""
    root = cloned_clusters(tmp_path)
    git("rm", "-q", "clusters/dev/deepseek-r1-llama-8b.yaml", cwd=root)
    commit(root, "drop deepseek-r1-llama-8b")
    monkeypatch.chdir(root)
    return root


def parsed(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, Any]:
    """The command's exit code and its -o json and -o yaml documents."""
    code = main([*args, "-o", "json"])
    as_json = json.loads(capsys.readouterr().out)
    assert main([*args, "-o", "yaml"]) == code
    as_yaml = yaml.safe_load(capsys.readouterr().out)
    return code, as_json, as_yaml


def test_validate(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, same = parsed(capsys, "validate")
    assert code == 0
    assert doc == same
    assert doc["valid"] is True
    names = {w["name"] for w in doc["workspaces"]}
    assert "phi-4-mini" in names
    assert {"pool": "dev/a10", "gpusRequested": 1, "gpus": 2} in doc["pools"]


def test_diff(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc, same = parsed(capsys, "diff", "--base", "HEAD~1", "--no-manifests")
    assert code == 1
    assert doc == same
    assert [(c["kind"], c["cluster"], c["name"]) for c in doc["changes"]] == [
        ("removed", "dev", "deepseek-r1-llama-8b")
    ]


def test_sync_and_status(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sync", "--repo", ".", "--cluster", "dev", "--out", "out", "-o", "json"])
    first = json.loads(capsys.readouterr().out)
    assert code == 0
    assert first["cluster"] == "dev"
    assert {(r["action"], r["name"], r["ok"]) for r in first["results"]} == {
        ("install", "phi-4-mini", True),
        ("install", "docs-rag", True),
    }
    code = main(["sync", "--repo", ".", "--cluster", "dev", "--out", "out", "-o", "yaml"])
    again = yaml.safe_load(capsys.readouterr().out)
    assert code == 0
    assert again["results"] == []
    assert again["skipped"] or again["planned"] == []

    code, rows, same = parsed(capsys, "status", "--out", "out")
    assert code == 0
    assert rows == same
    assert {(r["cluster"], r["name"], r["ready"]) for r in rows} == {
        ("dev", "phi-4-mini", "True"),
        ("dev", "docs-rag", "True"),
    }


def test_presets_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, listing, same = parsed(capsys, "presets", "list")
    assert code == 0
    assert listing == same
    phi = next(p for p in listing if p["name"] == "phi-3.5-mini-instruct")
    assert phi["huggingfaceId"] == "microsoft/Phi-3.5-mini-instruct"
    code, shown, same = parsed(capsys, "presets", "show", "phi-3.5-mini-instruct")
    assert code == 0
    assert shown == same
    assert shown["architecture"]["layers"] == 32
    assert [s["gpu"] for s in shown["sizing"]] == ["A10", "A100-80GB", "H100-80GB"]
    assert all(s["fits"] for s in shown["sizing"][1:])


def test_render_json_is_the_manifests_as_objects(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = "clusters/prod/mistral-7b-l4.yaml"
    assert main(["render", path]) == 0
    from_yaml = [m for m in yaml.safe_load_all(capsys.readouterr().out) if m]
    assert main(["render", path, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == from_yaml
    assert {m["kind"] for m in from_yaml} >= {"Deployment", "Service"}
    assert main(["render", path, "--values", "-o", "json"]) == 0
    values = json.loads(capsys.readouterr().out)  # one per Workspace of the file
    assert [v["vllm"]["maxModelLen"] for v in values] == [8192]


def test_table_is_the_default_and_the_older_format_names_still_work(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate"]) == 0
    default = capsys.readouterr().out
    assert main(["validate", "-o", "table"]) == 0
    assert capsys.readouterr().out == default
    assert main(["validate", "--format", "text"]) == 0
    assert capsys.readouterr().out == default
    assert default.splitlines()[-1].startswith("PASS")
    assert main(["validate", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True
    assert main(["validate", "--format", "github"]) == 0
    assert capsys.readouterr().out.startswith("modelsync validate passed")
    assert main(["diff", "--base", "HEAD~1", "--no-manifests", "--format", "markdown"]) == 1
    assert capsys.readouterr().out.startswith("### modelsync diff")


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "-o", "json", "--format", "github"],
        ["diff", "--base", "HEAD", "-o", "yaml", "--format", "markdown"],
        ["status", "--out", "out", "-o", "json", "--format", "table"],
        ["render", "clusters/prod/mistral-7b-l4.yaml", "-o", "table"],
    ],
)
def test_contradicting_or_unknown_outputs_are_usage_errors(
    repo: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert capsys.readouterr().out == ""
