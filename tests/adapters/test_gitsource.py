"""The Git source against real servers on loopback: git daemon, git http-backend, sshd."""

from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path

import pygit2
import pytest

from controller.adapters import gitsource
from controller.adapters.gitauth import GitAuth, redact, split_userinfo
from controller.adapters.gitsource import GitError, GitRef, GitSource, LocalRepository, Revision
from controller.core.documents import MAX_FILE_BYTES, SourceFile
from tests.support.gitfixtures import HTTP_TOKEN
from tests.support.gitserver import (
    GitDaemon,
    GitHttpServer,
    OriginRepo,
    SilentServer,
    SshServer,
    TrickleServer,
)

WORKSPACE = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: {name}
resource:
  instanceType: Standard_NC24ads_A100_v4
inference:
  preset:
    name: phi-3.5-mini-instruct
"""


def files_of(source: GitSource | LocalRepository, commit: str, prefix: str = "") -> dict[str, str]:
    """path -> text, or path -> "ERROR: why" for refused files."""
    return {
        f.path: f"ERROR: {f.error}" if f.error else (f.data or b"").decode()
        for f in source.read_tree(commit, prefix)
    }


def source_for(daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path, **ref: str) -> GitSource:
    return GitSource(
        daemon.url(git_origin.name), GitRef(**(ref or {"branch": "main"})), tmp_path / "cache"
    )


# --- fetching -------------------------------------------------------------------------------


def test_first_fetch_clones_then_later_fetches_pick_up_new_commits(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("clusters/a/ws.yaml", WORKSPACE.format(name="one"))
    first = git_origin.commit("one")
    source = source_for(git_daemon, git_origin, tmp_path)

    assert source.fetch() == Revision(first, "refs/heads/main")
    cache = pygit2.Repository(str(tmp_path / "cache"))
    assert cache.is_bare
    assert cache.is_shallow
    assert source.fetch() == Revision(first, "refs/heads/main")

    git_origin.write("clusters/a/ws.yaml", WORKSPACE.format(name="two"))
    second = git_origin.commit("two")
    assert source.fetch().commit == second
    assert "name: two" in files_of(source, second)["clusters/a/ws.yaml"]
    assert "name: one" in files_of(source, first)["clusters/a/ws.yaml"]
    assert source.changed_paths(first, second) == frozenset({"clusters/a/ws.yaml"})


def test_fetch_takes_only_the_followed_branch(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("a.yaml", "a")
    git_origin.commit()
    git_origin.git("checkout", "-q", "-b", "other")
    git_origin.write("b.yaml", "b")
    other = git_origin.commit()

    source_for(git_daemon, git_origin, tmp_path).fetch()

    cache = pygit2.Repository(str(tmp_path / "cache"))
    assert list(cache.references) == ["refs/remotes/origin/main"]
    assert other not in cache


def test_tag_pin_resolves_annotated_and_lightweight_tags_and_follows_a_moved_tag(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("a.yaml", "v1")
    v1 = git_origin.commit(push=False)
    git_origin.git("tag", "-a", "-m", "release", "v1.0.0")
    git_origin.git("tag", "light")
    git_origin.write("a.yaml", "v2")
    v2 = git_origin.commit()

    annotated = source_for(git_daemon, git_origin, tmp_path / "a", tag="v1.0.0")
    assert annotated.fetch() == Revision(v1, "refs/tags/v1.0.0")
    light = source_for(git_daemon, git_origin, tmp_path / "l", tag="light")
    assert light.fetch() == Revision(v1, "refs/tags/light")

    git_origin.git("tag", "-f", "light", v2)
    git_origin.push()
    assert light.fetch() == Revision(v2, "refs/tags/light")


def test_commit_pin_is_fetched_once_and_then_needs_no_server(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("a.yaml", "pinned")
    pinned = git_origin.commit()
    git_origin.write("a.yaml", "later")
    git_origin.commit()
    git_origin.git(
        "--git-dir", str(git_origin.bare), "config", "uploadpack.allowReachableSHA1InWant", "1"
    )

    source = source_for(git_daemon, git_origin, tmp_path, commit=pinned)
    assert source.fetch() == Revision(pinned, pinned)
    assert files_of(source, pinned) == {"a.yaml": "pinned"}

    offline = GitSource("git://127.0.0.1:9/nothing.git", GitRef(commit=pinned), tmp_path / "cache")
    assert offline.fetch() == Revision(pinned, pinned)


def test_commit_pin_falls_back_to_all_refs_when_the_server_refuses_fetch_by_id(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("a.yaml", "old")
    old = git_origin.commit()
    git_origin.write("a.yaml", "tip")
    git_origin.commit()
    source_for(git_daemon, git_origin, tmp_path).fetch()  # leaves a shallow cache behind

    pinned = source_for(git_daemon, git_origin, tmp_path, commit=old)
    assert pinned.fetch() == Revision(old, old)
    assert files_of(pinned, old) == {"a.yaml": "old"}


def test_commit_pin_that_the_remote_lacks_is_a_permanent_error(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.commit()
    with pytest.raises(GitError, match="not found") as caught:
        source_for(git_daemon, git_origin, tmp_path, commit="0" * 40).fetch()
    assert caught.value.retryable is False


@pytest.mark.parametrize("ref", [{"branch": "nope"}, {"tag": "v9"}])
def test_unknown_branch_or_tag_is_a_permanent_error(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path, ref: dict[str, str]
) -> None:
    git_origin.commit()
    with pytest.raises(GitError, match="not found") as caught:
        source_for(git_daemon, git_origin, tmp_path, **ref).fetch()
    assert caught.value.retryable is False


def test_branch_deleted_on_the_remote_is_not_served_from_the_cache(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    first = git_origin.commit()
    git_origin.git("push", "-q", "origin", "main:gone")
    source = source_for(git_daemon, git_origin, tmp_path, branch="gone")
    assert source.fetch().commit == first

    git_origin.git("push", "-q", "origin", "--delete", "gone")
    with pytest.raises(GitError, match="branch gone not found"):
        source.fetch()
    assert files_of(source, first) == {}


def test_force_pushed_branch_is_followed_and_diffed_against_the_lost_commit(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("keep.yaml", "keep")
    base = git_origin.commit()
    git_origin.write("lost.yaml", "lost")
    lost = git_origin.commit()
    source = source_for(git_daemon, git_origin, tmp_path)
    assert source.fetch().commit == lost

    git_origin.git("reset", "-q", "--hard", base)
    git_origin.write("new.yaml", "new")
    rewritten = git_origin.commit()  # pushed with --force: `lost` is no longer in the history

    assert source.fetch().commit == rewritten
    assert source.changed_paths(lost, rewritten) == frozenset({"lost.yaml", "new.yaml"})
    assert files_of(source, lost) == {"keep.yaml": "keep", "lost.yaml": "lost"}


def test_file_url_and_plain_path_are_fetched_like_any_remote(
    git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("a.yaml", "a")
    head = git_origin.commit()
    by_url = GitSource(git_origin.bare.as_uri(), GitRef(branch="main"), tmp_path / "u")
    by_path = GitSource(str(git_origin.bare), GitRef(branch="main"), tmp_path / "p")
    assert by_url.fetch().commit == by_path.fetch().commit == head
    assert files_of(by_path, head) == {"a.yaml": "a"}


def test_fetch_is_safe_to_call_from_several_threads(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    head = git_origin.commit()
    source = source_for(git_daemon, git_origin, tmp_path)
    results: list[str] = []

    def fetch() -> None:
        results.append(source.fetch().commit)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [head] * 4


def test_a_cache_directory_holding_something_else_is_refused(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.commit()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "precious.txt").write_text("mine")
    with pytest.raises(GitError, match="neither empty nor a Git repository") as caught:
        source_for(git_daemon, git_origin, tmp_path).fetch()
    assert caught.value.retryable is False


# --- failures: retryable or not, never leaking a secret -------------------------------------


def test_token_over_http_basic_auth(
    git_http: GitHttpServer, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("a.yaml", "a")
    head = git_origin.commit()
    with_auth = GitSource(
        git_http.url(git_origin.name),
        GitRef(branch="main"),
        tmp_path / "a",
        GitAuth(token=HTTP_TOKEN),
    )
    assert with_auth.fetch().commit == head

    in_url = git_http.url(git_origin.name).replace("http://", f"http://bot:{HTTP_TOKEN}@")
    embedded = GitSource(in_url, GitRef(branch="main"), tmp_path / "b")
    assert embedded.fetch().commit == head
    assert HTTP_TOKEN not in repr(embedded) + embedded.url
    assert HTTP_TOKEN not in (tmp_path / "b" / "config").read_text()


def test_a_token_as_the_url_user_is_used_and_kept_out_of_the_url(
    git_http: GitHttpServer, git_origin: OriginRepo, tmp_path: Path
) -> None:
    head = git_origin.commit()
    in_url = git_http.url(git_origin.name).replace("http://", f"http://{HTTP_TOKEN}@")
    source = GitSource(in_url, GitRef(branch="main"), tmp_path / "c")
    assert source.fetch().commit == head
    assert HTTP_TOKEN in source.secrets
    assert HTTP_TOKEN not in repr(source) + source.url
    assert HTTP_TOKEN not in (tmp_path / "c" / "config").read_text()


def test_wrong_token_is_permanent_and_never_shown(
    git_http: GitHttpServer, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.commit()
    wrong = "ghp_wrongToken_must_not_leak_1234567890"
    auth = GitAuth(token=wrong)
    url = git_http.url(git_origin.name).replace("http://", f"http://bot:{wrong}@")
    for source in (
        GitSource(git_http.url(git_origin.name), GitRef(branch="main"), tmp_path / "a", auth),
        GitSource(url, GitRef(branch="main"), tmp_path / "b"),
    ):
        with pytest.raises(GitError, match="authentication failed") as caught:
            source.fetch()
        assert caught.value.retryable is False
        shown = "".join(traceback.format_exception(caught.value)) + repr(source) + repr(auth)
        assert wrong not in shown


def test_missing_credentials_are_a_permanent_error(
    git_http: GitHttpServer, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.commit()
    source = GitSource(git_http.url(git_origin.name), GitRef(branch="main"), tmp_path / "c")
    with pytest.raises(GitError, match="none are configured") as caught:
        source.fetch()
    assert caught.value.retryable is False


def test_repository_missing_on_the_server_is_a_permanent_error(
    git_daemon: GitDaemon, tmp_path: Path
) -> None:
    source = GitSource(git_daemon.url("absent.git"), GitRef(branch="main"), tmp_path / "c")
    with pytest.raises(GitError, match="no such repository") as caught:
        source.fetch()
    assert caught.value.retryable is False


def test_unreachable_port_is_retryable(tmp_path: Path) -> None:
    with SilentServer() as closed:
        port = closed.port
    source = GitSource(f"git://127.0.0.1:{port}/x.git", GitRef(branch="main"), tmp_path / "c")
    with pytest.raises(GitError, match="refused") as caught:
        source.fetch()
    assert caught.value.retryable is True


@pytest.mark.parametrize("scheme", ["git", "http", "ssh"])
def test_server_that_never_answers_times_out_as_retryable(
    silent_server: SilentServer, tmp_path: Path, scheme: str
) -> None:
    url = f"{scheme}://git@127.0.0.1:{silent_server.port}/x.git"
    source = GitSource(url, GitRef(branch="main"), tmp_path / "c", timeout=0.3)
    started = time.monotonic()
    with pytest.raises(GitError, match=r"(?i)timed out") as caught:
        source.fetch()
    assert time.monotonic() - started < 1.5
    assert caught.value.retryable is True


# What a trickling remote sends first: a git:// ref advertisement whose first pkt-line
# promises 255 bytes, or HTTP response headers that never end.
TRICKLE_PREFIXES = {"git": b"00ff", "http": b"HTTP/1.1 200 OK\r\nX-Slow: "}


@pytest.mark.parametrize("scheme", sorted(TRICKLE_PREFIXES))
def test_server_that_trickles_a_byte_at_a_time_times_out_at_the_deadline(
    tmp_path: Path, scheme: str
) -> None:
    with TrickleServer(TRICKLE_PREFIXES[scheme], interval=0.2, limit=100) as server:
        url = f"{scheme}://127.0.0.1:{server.port}/x.git"
        source = GitSource(url, GitRef(branch="main"), tmp_path / "c", timeout=1.0)
        started = time.monotonic()
        with pytest.raises(GitError, match=r"timed out after 1s") as caught:
            source.fetch()
        elapsed = time.monotonic() - started
    # The trickle lasts 20 s; the 1 s deadline ends it (2 s: margin for a loaded machine).
    assert elapsed < 2.0
    assert caught.value.retryable is True


def test_a_fetch_killed_at_the_deadline_leaves_a_cache_the_next_fetch_can_use(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("a.yaml", "a")
    git_origin.commit()
    cache = tmp_path / "cache"
    source = GitSource(git_daemon.url(git_origin.name), GitRef(branch="main"), cache)
    source.fetch()
    git_origin.write("a.yaml", "b")
    head = git_origin.commit()
    # A worker killed while updating the ref leaves its lock file; when exactly libgit2
    # holds it cannot be arranged from outside, so the test puts it there.
    (cache / "refs" / "remotes" / "origin" / "main.lock").write_text("")
    with TrickleServer(TRICKLE_PREFIXES["git"], interval=0.2, limit=100) as server:
        url = f"git://127.0.0.1:{server.port}/x.git"
        stalled = GitSource(url, GitRef(branch="main"), cache, timeout=0.5)
        with pytest.raises(GitError, match="timed out"):
            stalled.fetch()
    source = GitSource(git_daemon.url(git_origin.name), GitRef(branch="main"), cache)
    assert source.fetch().commit == head


def test_failed_fetch_leaves_the_last_good_commit_readable(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("clusters/a/ws.yaml", WORKSPACE.format(name="good"))
    good = git_origin.commit()
    source = source_for(git_daemon, git_origin, tmp_path)
    assert source.fetch().commit == good

    git_origin.bare.rename(git_origin.bare.with_name("moved.git"))
    try:
        with pytest.raises(GitError):
            source.fetch()
        assert "name: good" in files_of(source, good)["clusters/a/ws.yaml"]
        assert source.changed_paths(good, good) == frozenset()
    finally:
        git_origin.bare.with_name("moved.git").rename(git_origin.bare)
    assert source.fetch().commit == good


# --- ssh ------------------------------------------------------------------------------------


def test_ssh_key_auth_with_known_hosts(
    ssh_server: SshServer, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("a.yaml", "over ssh")
    head = git_origin.commit()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(ssh_server.known_hosts_line())
    auth = GitAuth(ssh_private_key=ssh_server.client_key, known_hosts=known_hosts)
    source = GitSource(ssh_server.url(git_origin.bare), GitRef(branch="main"), tmp_path / "c", auth)
    assert source.fetch().commit == head
    assert files_of(source, head) == {"a.yaml": "over ssh"}


def test_ssh_unknown_host_key_is_refused(
    ssh_server: SshServer, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.commit()
    stranger = SshServer(tmp_path / "other")  # its keys only; never started
    known_hosts = tmp_path / "known_hosts"
    host = ssh_server.known_hosts_line().split()[0]
    other_key = stranger.host_key.with_suffix(".pub").read_text().split()[:2]
    known_hosts.write_text(" ".join([host, *other_key]) + "\n")
    auth = GitAuth(ssh_private_key=ssh_server.client_key, known_hosts=known_hosts)
    source = GitSource(ssh_server.url(git_origin.bare), GitRef(branch="main"), tmp_path / "c", auth)
    with pytest.raises(GitError, match="not trusted") as caught:
        source.fetch()
    assert caught.value.retryable is False


def test_ssh_host_missing_from_every_known_hosts_is_refused(
    ssh_server: SshServer, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.commit()
    auth = GitAuth(ssh_private_key=ssh_server.client_key)  # only the user's own known_hosts
    source = GitSource(ssh_server.url(git_origin.bare), GitRef(branch="main"), tmp_path / "c", auth)
    with pytest.raises(GitError, match="not trusted") as caught:
        source.fetch()
    assert caught.value.retryable is False


def test_ssh_key_the_server_does_not_know_is_a_permanent_error(
    ssh_server: SshServer, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.commit()
    stranger = SshServer(tmp_path / "other")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(ssh_server.known_hosts_line())
    auth = GitAuth(ssh_private_key=stranger.client_key, known_hosts=known_hosts)
    source = GitSource(ssh_server.url(git_origin.bare), GitRef(branch="main"), tmp_path / "c", auth)
    with pytest.raises(GitError, match="authentication failed") as caught:
        source.fetch()
    assert caught.value.retryable is False


# --- reading trees ----------------------------------------------------------------------------


def test_read_tree_under_a_prefix_gives_repo_relative_paths(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("README.md", "hi")
    git_origin.write("clusters/a/cluster.yaml", "kind: Cluster")
    git_origin.write("clusters/a/team/ws.yaml", "kind: Workspace")
    git_origin.write("clusters/b/cluster.yaml", "kind: Cluster")
    head = git_origin.commit()
    source = source_for(git_daemon, git_origin, tmp_path)
    source.fetch()

    assert [f.path for f in source.read_tree(head)] == [
        "README.md", "clusters/a/cluster.yaml", "clusters/a/team/ws.yaml",
        "clusters/b/cluster.yaml",
    ]  # fmt: skip
    assert files_of(source, head, "clusters/a/") == {
        "clusters/a/cluster.yaml": "kind: Cluster",
        "clusters/a/team/ws.yaml": "kind: Workspace",
    }
    assert source.read_tree(head, "clusters/zzz") == []
    assert source.read_tree(head, "README.md") == []


def test_oversized_file_is_an_error_and_the_others_still_read(
    git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("big.yaml", b"x" * (MAX_FILE_BYTES + 1))
    git_origin.write("limit.yaml", b"y" * MAX_FILE_BYTES)
    git_origin.write("ok.yaml", "fine")
    head = git_origin.commit(push=False)
    files = {f.path: f for f in LocalRepository(git_origin.work).read_tree(head)}
    assert files["big.yaml"].data is None
    assert f"{MAX_FILE_BYTES + 1} bytes" in (files["big.yaml"].error or "")
    assert files["limit.yaml"].data == b"y" * MAX_FILE_BYTES
    assert files["ok.yaml"] == SourceFile("ok.yaml", data=b"fine")


def test_symlinks_inside_are_resolved_and_escaping_ones_refused(
    git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("clusters/a/real.yaml", "real")
    git_origin.write("shared/base.yaml", "base")
    git_origin.symlink("clusters/a/link.yaml", "real.yaml")
    git_origin.symlink("clusters/a/chain.yaml", "link.yaml")
    git_origin.symlink("clusters/a/up.yaml", "../../shared/base.yaml")
    git_origin.symlink("clusters/a/passwd.yaml", "/etc/passwd")
    git_origin.symlink("clusters/a/out.yaml", "../../../outside.yaml")
    git_origin.symlink("clusters/a/dangling.yaml", "nothing.yaml")
    git_origin.symlink("clusters/a/dir.yaml", ".")
    git_origin.symlink("clusters/a/loop1.yaml", "loop2.yaml")
    git_origin.symlink("clusters/a/loop2.yaml", "loop1.yaml")
    head = git_origin.commit(push=False)
    repo = LocalRepository(git_origin.work)

    under_a = files_of(repo, head, "clusters/a")
    assert under_a["clusters/a/link.yaml"] == "real"
    assert under_a["clusters/a/chain.yaml"] == "real"
    assert (
        under_a["clusters/a/up.yaml"]
        == "ERROR: symlink to '../../shared/base.yaml' leaves clusters/a/"
    )
    assert "leaves the repository" in under_a["clusters/a/passwd.yaml"]
    assert "leaves the repository" in under_a["clusters/a/out.yaml"]
    assert "points at nothing" in under_a["clusters/a/dangling.yaml"]
    assert "is not a file" in under_a["clusters/a/dir.yaml"]
    assert "too many levels" in under_a["clusters/a/loop1.yaml"]
    assert under_a["clusters/a/real.yaml"] == "real"
    assert files_of(repo, head)["clusters/a/up.yaml"] == "base"


def test_submodule_is_listed_as_an_error(git_origin: OriginRepo, tmp_path: Path) -> None:
    git_origin.write("a.yaml", "a")
    git_origin.git("add", "a.yaml")
    git_origin.git("update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},clusters/vendored")
    git_origin.git("commit", "-q", "-m", "with a submodule")
    head = git_origin.git("rev-parse", "HEAD")
    files = files_of(LocalRepository(git_origin.work), head)
    assert files == {"a.yaml": "a", "clusters/vendored": "ERROR: submodule (gitlink) is not read"}


def test_reading_a_commit_that_is_not_there_is_a_permanent_error(
    git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.commit(push=False)
    with pytest.raises(GitError, match="not in the repository") as caught:
        LocalRepository(git_origin.work).read_tree("f" * 40)
    assert caught.value.retryable is False


# --- changed paths ----------------------------------------------------------------------------


def test_changed_paths_covers_add_modify_delete_and_rename(
    git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("clusters/a/keep.yaml", "keep")
    git_origin.write("clusters/a/edit.yaml", "v1")
    git_origin.write("clusters/a/gone.yaml", "gone")
    git_origin.write("clusters/a/old-name.yaml", "renamed")
    git_origin.write("clusters/b/other.yaml", "b")
    before = git_origin.commit(push=False)
    git_origin.write("clusters/a/edit.yaml", "v2")
    git_origin.remove("clusters/a/gone.yaml")
    git_origin.rename("clusters/a/old-name.yaml", "clusters/a/sub/new-name.yaml")
    git_origin.write("clusters/a/added.yaml", "new")
    git_origin.write("clusters/b/other.yaml", "b2")
    after = git_origin.commit(push=False)
    repo = LocalRepository(git_origin.work)

    changed_a = frozenset({
        "clusters/a/edit.yaml", "clusters/a/gone.yaml", "clusters/a/old-name.yaml",
        "clusters/a/sub/new-name.yaml", "clusters/a/added.yaml",
    })  # fmt: skip
    assert repo.changed_paths(before, after, "clusters/a") == changed_a
    assert repo.changed_paths(before, after) == changed_a | {"clusters/b/other.yaml"}
    assert repo.changed_paths(after, before, "clusters/a") == changed_a
    assert repo.changed_paths(after, after) == frozenset()
    assert repo.changed_paths(before, after, "clusters/none") == frozenset()


def test_changed_paths_when_the_prefix_appears_or_disappears(
    git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("README.md", "x")
    empty = git_origin.commit(push=False)
    git_origin.write("clusters/c/ws.yaml", "ws")
    full = git_origin.commit(push=False)
    repo = LocalRepository(git_origin.work)
    assert repo.changed_paths(empty, full, "clusters/c") == frozenset({"clusters/c/ws.yaml"})
    assert repo.changed_paths(full, empty, "clusters/c") == frozenset({"clusters/c/ws.yaml"})


def test_changed_paths_is_none_without_a_known_old_commit(
    git_origin: OriginRepo, tmp_path: Path
) -> None:
    head = git_origin.commit(push=False)
    repo = LocalRepository(git_origin.work)
    assert repo.changed_paths(None, head) is None
    assert repo.changed_paths("e" * 40, head) is None
    with pytest.raises(GitError):
        repo.changed_paths(head, "e" * 40)


def test_changed_paths_counts_a_symlink_whose_target_changed(
    git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("clusters/a/real.yaml", "v1")
    git_origin.symlink("clusters/a/link.yaml", "real.yaml")
    before = git_origin.commit(push=False)
    git_origin.write("clusters/a/real.yaml", "v2")
    after = git_origin.commit(push=False)
    repo = LocalRepository(git_origin.work)
    assert repo.changed_paths(before, after, "clusters/a") == frozenset(
        {"clusters/a/real.yaml", "clusters/a/link.yaml"}
    )


# --- local repositories -----------------------------------------------------------------------


def test_local_repository_resolves_any_revision(
    git_daemon: GitDaemon, git_origin: OriginRepo, tmp_path: Path
) -> None:
    git_origin.write("a.yaml", "1")
    first = git_origin.commit()
    git_origin.git("tag", "-a", "-m", "t", "v1")
    git_origin.write("a.yaml", "2")
    second = git_origin.commit()
    git_origin.git("fetch", "-q", "origin")
    (git_origin.work / "clusters").mkdir()
    repo = LocalRepository(git_origin.work / "clusters")  # found from a subdirectory

    assert repo.resolve("HEAD") == repo.resolve("main") == second
    assert repo.resolve("HEAD~1") == repo.resolve("v1") == first
    assert repo.resolve("origin/main") == second
    assert repo.resolve(first[:10]) == first
    assert repo.changed_paths(repo.resolve("v1"), repo.resolve("HEAD")) == frozenset({"a.yaml"})
    with pytest.raises(GitError, match="cannot resolve 'nope'") as caught:
        repo.resolve("nope")
    assert caught.value.retryable is False


def test_local_repository_outside_any_repository_is_refused(tmp_path: Path) -> None:
    for path in (tmp_path, tmp_path / "absent"):
        with pytest.raises(GitError, match="no Git repository"):
            LocalRepository(path)


def test_missing_known_hosts_file_is_a_permanent_error(tmp_path: Path) -> None:
    auth = GitAuth(known_hosts=tmp_path / "absent")
    source = GitSource("ssh://git@127.0.0.1:9/x.git", GitRef(branch="main"), tmp_path / "c", auth)
    with pytest.raises(GitError, match="cannot read known_hosts") as caught:
        source.fetch()
    assert caught.value.retryable is False


# --- values and credentials -------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    [{}, {"branch": "a", "tag": "b"}, {"commit": "abc"}, {"commit": "A" * 40}, {"branch": "a..b"}],
)
def test_git_ref_wants_exactly_one_valid_ref(ref: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"GitRef|commit|ref name"):
        GitRef(**ref)


def test_git_auth_from_files_reads_the_mounted_secret(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret-token\n")
    (tmp_path / "username").write_text("bot\n")
    (tmp_path / "ssh-privatekey").write_text("KEY")
    (tmp_path / "known_hosts").write_text("host ssh-ed25519 AAAA")
    auth = GitAuth.from_files(tmp_path)
    assert auth == GitAuth(
        token="s3cret-token",
        username="bot",
        ssh_private_key=tmp_path / "ssh-privatekey",
        known_hosts=tmp_path / "known_hosts",
    )
    assert "s3cret-token" not in repr(auth) + str(auth)
    assert GitAuth.from_files(tmp_path / "absent") == GitAuth()


def test_git_auth_from_env(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    assert GitAuth.from_env({"MODELSYNC_GIT_TOKEN": "t0k3n"}).token == "t0k3n"
    auth = GitAuth.from_env(
        {
            "MODELSYNC_GIT_TOKEN_FILE": str(tmp_path / "token"),
            "MODELSYNC_GIT_USERNAME": "bot",
            "MODELSYNC_GIT_SSH_KEY_FILE": "/keys/id",
            "MODELSYNC_GIT_KNOWN_HOSTS_FILE": "/keys/known_hosts",
        }
    )
    assert auth == GitAuth(
        token="from-file",
        username="bot",
        ssh_private_key=Path("/keys/id"),
        known_hosts=Path("/keys/known_hosts"),
    )
    assert GitAuth.from_env({}) == GitAuth()
    with pytest.raises(ValueError, match="not both"):
        GitAuth.from_env({"MODELSYNC_GIT_TOKEN": "a", "MODELSYNC_GIT_TOKEN_FILE": "/b"})


def test_redact_and_split_userinfo() -> None:
    assert redact("failed https://bot:tok@host/x.git and tok", ["tok"]) == (
        "failed https://bot:***@host/x.git and ***"
    )
    assert split_userinfo("https://bot:tok@host/x.git") == ("https://host/x.git", "bot", "tok")
    assert split_userinfo("ssh://git@host/x.git") == ("ssh://git@host/x.git", None, None)
    assert split_userinfo("git@github.com:org/x.git") == ("git@github.com:org/x.git", None, None)


def test_urls_keep_their_scheme_and_local_paths_become_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    main = GitRef(branch="main")
    for url in ["git@github.com:org/x.git", "ssh://git@host:2222/x.git", "git://h/x", "file:///r"]:
        assert GitSource(url, main, tmp_path / "c").url == url
    assert GitSource("repos/x.git", main, tmp_path / "c").url == str(tmp_path / "repos/x.git")


def test_public_names() -> None:
    assert set(gitsource.__all__) == {
        "GitAuth", "GitError", "GitRef", "GitSource", "LocalRepository", "LocalSource", "Revision",
    }  # fmt: skip
