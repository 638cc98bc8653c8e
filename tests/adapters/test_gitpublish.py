"""Publishing rendered manifests to a remote branch with pygit2, as the hydrate target does."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from controller.adapters.gitsource import GitError, GitRef, GitSource, LocalSource
from tests.support.gitserver import OriginRepo, git


def rendered(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory


def remote_files(origin: OriginRepo, branch: str) -> dict[str, str]:
    names = git("ls-tree", "-r", "--name-only", branch, cwd=origin.bare).split()
    return {n: git("show", f"{branch}:{n}", cwd=origin.bare) for n in names}


def test_publish_commits_pushes_and_skips_unchanged_trees(
    git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("clusters/dev/cluster.yaml", "kind: Cluster\n")
    git_origin.commit("source")
    source = GitSource(f"file://{git_origin.bare}", GitRef(branch="main"), tmp_path / "cache")
    source.fetch()
    out = rendered(
        tmp_path / "out", {"ml/a.yaml": "a: 1", "modelsync.ledger": "{}", ".tmp-partial": "ignored"}
    )
    first = source.publish("environments/dev", out, "render dev\n")
    assert first is not None
    assert remote_files(git_origin, "environments/dev") == {
        "ml/a.yaml": "a: 1",
        "modelsync.ledger": "{}",
    }
    assert source.publish("environments/dev", out, "again\n") is None  # same tree
    (out / "ml/a.yaml").write_text("a: 2")
    second = source.publish("environments/dev", out, "a changed\n")
    assert git("rev-parse", "environments/dev", cwd=git_origin.bare) == second
    assert git("rev-parse", "environments/dev~1", cwd=git_origin.bare) == first
    assert git("log", "-1", "--format=%an <%ae>", "environments/dev", cwd=git_origin.bare) == (
        "modelsync <modelsync@users.noreply.github.com>"
    )
    assert git("rev-parse", "main", cwd=git_origin.bare) != second  # the source branch untouched


def test_publish_builds_on_commits_others_pushed(git_origin: OriginRepo, tmp_path: Path) -> None:
    git_origin.write("README.md", "x\n")
    git_origin.commit("source")
    source = GitSource(f"file://{git_origin.bare}", GitRef(branch="main"), tmp_path / "cache")
    out = rendered(tmp_path / "out", {"a.yaml": "a: 1"})
    source.publish("env", out, "first\n")
    # Someone else (a second controller, a person) moves the branch on the remote.
    other = tmp_path / "other"
    git("clone", "-q", "-b", "env", str(git_origin.bare), str(other))
    (other / "note.txt").write_text("hi\n")
    git("add", "-A", cwd=other)
    git("commit", "-q", "-m", "note", cwd=other)
    git("push", "-q", "origin", "env", cwd=other)
    theirs = git("rev-parse", "HEAD", cwd=other)
    (out / "a.yaml").write_text("a: 2")
    ours = source.publish("env", out, "second\n")
    assert git("rev-parse", "env~1", cwd=git_origin.bare) == theirs  # on top, not forced over
    assert git("rev-parse", "env", cwd=git_origin.bare) == ours


def test_restore_fills_a_fresh_directory_from_the_branch(
    git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("README.md", "x\n")
    git_origin.commit("source")
    source = GitSource(f"file://{git_origin.bare}", GitRef(branch="main"), tmp_path / "cache")
    assert source.restore("env", tmp_path / "empty") is False  # no branch yet
    source.publish(
        "env",
        rendered(tmp_path / "out", {"ns/r.yaml": "r: 1", "modelsync.ledger": "{}"}),
        "first\n",
    )
    fresh = GitSource(f"file://{git_origin.bare}", GitRef(branch="main"), tmp_path / "cache2")
    assert fresh.restore("env", tmp_path / "restored") is True
    assert (tmp_path / "restored/ns/r.yaml").read_text() == "r: 1"
    assert (tmp_path / "restored/modelsync.ledger").exists()


def raw_tree(repo: pygit2.Repository, entries: list[tuple[str, str, pygit2.Oid]]) -> pygit2.Oid:
    """A tree object written byte by byte: libgit2's TreeBuilder refuses names like '..',
    a hostile pusher's git does not have to."""
    raw = b"".join(f"{mode} {name}".encode() + b"\0" + oid.raw for mode, name, oid in entries)
    return repo.odb.write(pygit2.enums.ObjectType.TREE, raw)


@pytest.mark.parametrize("name", ["..", "a/../..", "."])
def test_restore_refuses_a_branch_whose_tree_climbs_out(tmp_path: Path, name: str) -> None:
    repo = pygit2.init_repository(str(tmp_path / "repo"), bare=True)
    blob = repo.create_blob(b"pwned: true\n")
    inner = raw_tree(repo, [("100644", "pwned.yaml", blob)])
    outer = raw_tree(repo, [("40000", name, inner), ("100644", "ok.yaml", blob)])
    signature = pygit2.Signature("mallory", "mallory@example.invalid")
    repo.create_commit("refs/heads/env", signature, signature, "climb\n", outer, [])
    out = tmp_path / "out" / "edge"
    with pytest.raises(GitError, match="not a plain name") as caught:
        LocalSource(tmp_path / "repo").restore("env", out)
    assert caught.value.retryable is False
    assert [p.name for p in tmp_path.rglob("pwned.yaml")] == []
    assert not (out / "ok.yaml").exists()  # nothing at all is written from such a branch


def test_restore_does_not_follow_a_symlink_in_the_directory(
    git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("README.md", "x\n")
    git_origin.commit("source")
    source = GitSource(f"file://{git_origin.bare}", GitRef(branch="main"), tmp_path / "cache")
    source.publish("env", rendered(tmp_path / "out", {"ns/r.yaml": "r: 1"}), "first\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / "ns").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(GitError, match="symlink"):
        source.restore("env", restored)
    assert list(elsewhere.iterdir()) == []


def test_publishing_to_the_followed_branch_is_refused(
    git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("clusters/dev/cluster.yaml", "kind: Cluster\n")
    head = git_origin.commit("source")
    out = rendered(tmp_path / "out", {"ml/a.yaml": "a: 1"})
    source = GitSource(f"file://{git_origin.bare}", GitRef(branch="main"), tmp_path / "cache")
    local = LocalSource(git_origin.work)  # HEAD, which is main
    for publisher in (source, local):
        with pytest.raises(GitError, match="branch the Workspaces are read from") as caught:
            publisher.publish("main", out, "render\n")
        assert caught.value.retryable is False
    assert git("rev-parse", "main", cwd=git_origin.bare) == head
    assert git("rev-parse", "main", cwd=git_origin.work) == head
    assert source.publish("environments/dev", out, "render\n") is not None
