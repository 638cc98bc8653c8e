"""Git source: fetch one ref of the clusters repo and read its tree as ``SourceFile``s.

Adapter layer, the left end of the pipeline (git source -> documents -> specs -> ...).
``GitSource`` keeps a bare, shallow cache of one branch, tag or commit of a remote;
``LocalRepository`` reads an existing checkout for ``modelsync diff`` in CI. Both hand the
pure core nothing but ``SourceFile``s and sets of changed paths; every libgit2 failure
leaves as ``GitError`` saying whether a retry can help.

Every network operation runs in the worker process of ``gitworker``, which is killed when
the operation's deadline passes: libgit2's own socket timeout bounds each read, not the
whole transfer.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import pygit2

from controller.adapters import gitworker
from controller.adapters.gitauth import GitAuth, redact
from controller.adapters.gitauth import split_userinfo as _split_userinfo
from controller.adapters.gitpublish import commit_directory, restore_directory
from controller.adapters.gittree import (
    LIBGIT2_ERRORS,
    GitError,
    LocalRepository,
    TreeView,
    commit_or_none,
)

__all__ = [
    "GitAuth",
    "GitError",
    "GitRef",
    "GitSource",
    "LocalRepository",
    "LocalSource",
    "Revision",
]

_HEX40 = re.compile(r"[0-9a-f]{40}")
_SHALLOW_DEPTH = 1
_UNSHALLOW = 2**31 - 1  # libgit2's GIT_FETCH_DEPTH_UNSHALLOW
# Words in libgit2 messages that mean the same request will fail again.
_PERMANENT_HINTS = (
    "authentication", "credentials", "401", "403", "404", "not found", "not exported",
    "access denied", "no such repository", "does not appear to be", "not a git repository",
    "unsupported url", "certificate", "hostkey", "host key", "specific object",
)  # fmt: skip


@dataclass(frozen=True)
class GitRef:
    """What to follow: exactly one of a branch, a tag or a 40-hex commit."""

    branch: str | None = None
    tag: str | None = None
    commit: str | None = None

    def __post_init__(self) -> None:
        if sum(v is not None for v in (self.branch, self.tag, self.commit)) != 1:
            raise ValueError("GitRef needs exactly one of branch, tag, commit")
        if self.commit is not None and not _HEX40.fullmatch(self.commit):
            raise ValueError(f"commit must be 40 lowercase hex digits, not {self.commit!r}")
        if not pygit2.reference_is_valid_name(self.remote_name):
            raise ValueError(f"not a valid Git ref name: {self.remote_name!r}")

    @property
    def remote_name(self) -> str:
        """The full ref name on the remote; for a commit pin, the cache ref that keeps it."""
        if self.branch is not None:
            return f"refs/heads/{self.branch}"
        if self.tag is not None:
            return f"refs/tags/{self.tag}"
        return "refs/modelsync/pinned"

    @property
    def local_name(self) -> str:
        """Where the fetched ref lands in the cache."""
        return f"refs/remotes/origin/{self.branch}" if self.branch else self.remote_name

    def __str__(self) -> str:
        if self.branch is not None:
            return f"branch {self.branch}"
        return f"tag {self.tag}" if self.tag is not None else f"commit {self.commit}"


@dataclass(frozen=True)
class Revision:
    """A fetched commit (40 hex) and the ref it was resolved from."""

    commit: str
    ref: str


class GitSource(TreeView):
    """One ref of one remote, cached as a bare shallow repository in ``cache_dir``.

    Safe to call repeatedly from one worker at a time (calls are serialized by a lock);
    a failed fetch leaves every commit fetched before it readable.
    """

    def __init__(
        self,
        url: str,
        ref: GitRef,
        cache_dir: Path,
        auth: GitAuth | None = None,
        timeout: float = 60.0,
    ) -> None:
        super().__init__()
        auth = auth or GitAuth()
        bare_url, user, password = _split_userinfo(url)
        if auth.token is None and password is not None:
            auth = replace(auth, token=password, username=auth.username or user)
        elif auth.token is None and user is not None:
            # https://<token>@host: the lone user is the token (GitHub's and GitLab's form);
            # it goes out as the basic-auth password, as x-access-token's.
            auth = replace(auth, token=user)
        self._secrets = tuple(
            s for s in (*auth.secrets, password, user if password is None else None) if s
        )
        self.url = _absolute_if_local(bare_url)
        self.ref = ref
        self.cache_dir = cache_dir
        self._auth = auth
        self._timeout = timeout
        self._repo: pygit2.Repository | None = None
        # libgit2's local transport cannot fetch shallow (and copying objects is cheap there).
        self._depth = 0 if self.url.startswith(("file://", "/")) else _SHALLOW_DEPTH

    def __repr__(self) -> str:
        return f"GitSource({self.url!r}, {self.ref}, cache_dir={str(self.cache_dir)!r})"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The credentials this source holds: what ``redact`` must hide wherever text leaves."""
        return self._secrets

    def fetch(self) -> Revision:
        """Bring the cache up to date with the remote ref and return the commit it names."""
        with self._lock:
            repo = self._repository()
            if self.ref.commit is not None:
                if commit_or_none(repo, self.ref.commit) is None:
                    self._fetch_commit(repo, self.ref.commit)
                return Revision(self.ref.commit, self.ref.commit)
            # Shallow only for the first fetch: libgit2's shallow negotiation costs ~45 ms more
            # on every later fetch, and a plain fetch into a shallow cache stays shallow.
            depth = 0 if self.ref.local_name in repo.references else self._depth
            self._download(repo, [f"+{self.ref.remote_name}:{self.ref.local_name}"], depth)
            try:
                commit = repo.references[self.ref.local_name].peel(pygit2.Commit)
            except LIBGIT2_ERRORS as e:
                raise GitError(f"{self.ref} not found at {self.url}", retryable=False) from e
            return Revision(str(commit.id), self.ref.remote_name)

    def follows(self, branch: str) -> bool:
        """Whether ``branch`` is the branch this source reads the clusters repo from."""
        return self.ref.branch == branch

    def publish(self, branch: str, directory: Path, message: str) -> str | None:
        """Commit ``directory`` onto the remote's ``branch`` and push it (fast-forward only).

        The tip is fetched first, so the commit lands on what the remote holds; a push that
        is refused because someone pushed in between fails this call and the next pass
        tries again on the new tip.
        """
        _refuse_followed(self, branch)
        with self._lock:
            repo = self._repository()
            self._fetch_branch(repo, branch)
            commit = commit_directory(repo, branch, directory, message)
            if commit is not None:
                self._push(repo, branch)
            return commit

    def restore(self, branch: str, directory: Path) -> bool:
        """Fill an empty ``directory`` from the remote's ``branch`` (False: no such branch)."""
        with self._lock:
            repo = self._repository()
            self._fetch_branch(repo, branch)
            return restore_directory(repo, branch, directory)

    def _fetch_branch(self, repo: pygit2.Repository, branch: str) -> None:
        try:
            self._download(repo, [f"+refs/heads/{branch}:refs/heads/{branch}"], 0)
        except GitError as e:
            if "couldn't find remote ref" not in str(e) and "not found" not in str(e):
                raise
            # A first publish: the branch does not exist on the remote yet.

    def _push(self, repo: pygit2.Repository, branch: str) -> None:
        refspec = f"refs/heads/{branch}:refs/heads/{branch}"
        outcome = self._network("push", repo, [refspec], 0, f"push {branch} to {self.url}")
        if outcome.refused:
            raise GitError(
                f"push {branch} to {self.url} refused: {outcome.refused}", retryable=True
            )

    def _fetch_commit(self, repo: pygit2.Repository, sha: str) -> None:
        try:
            self._download(repo, [f"+{sha}:{self.ref.local_name}"], self._depth)
        except GitError as e:
            if "specific object" not in str(e):
                raise
            # The server will not send an object by id: take every branch and tag.
            refspecs = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
            self._download(repo, refspecs, _UNSHALLOW if repo.is_shallow else 0)
            if commit_or_none(repo, sha) is not None:
                repo.references.create(self.ref.local_name, sha, force=True)
        if commit_or_none(repo, sha) is None:
            raise GitError(f"commit {sha} not found at {self.url}", retryable=False)

    def _repository(self) -> pygit2.Repository:
        if self._repo is None:
            self._repo = self._open_cache()
        return self._repo

    def _open_cache(self) -> pygit2.Repository:
        path = self.cache_dir
        try:
            if (path / "HEAD").is_file():
                repo = pygit2.Repository(str(path))
            elif path.exists() and any(path.iterdir()):
                raise GitError(
                    f"cache {path} is neither empty nor a Git repository", retryable=False
                )
            else:
                repo = pygit2.init_repository(str(path), bare=True)
            names = {r.name for r in repo.remotes}
            if "origin" not in names:
                refspec = (
                    None if self.ref.commit else f"+{self.ref.remote_name}:{self.ref.local_name}"
                )
                repo.remotes.create("origin", self.url, fetch=refspec)
                repo.config["remote.origin.tagopt"] = "--no-tags"
            elif repo.remotes["origin"].url != self.url:
                repo.remotes.set_url("origin", self.url)
        except LIBGIT2_ERRORS as e:
            raise GitError(f"cannot open cache {path}: {e}", retryable=False) from e
        return repo

    def _download(self, repo: pygit2.Repository, refspecs: list[str], depth: int) -> None:
        self._network("fetch", repo, refspecs, depth, f"fetch {self.ref} from {self.url}")

    def _network(
        self,
        op: Literal["fetch", "push"],
        repo: pygit2.Repository,
        refspecs: list[str],
        depth: int,
        where: str,
    ) -> gitworker.Outcome:
        request = gitworker.Request(
            op, repo.path, refspecs, self._timeout, depth, _str_or_none(self._ssh_home())
        )
        try:
            outcome = gitworker.run(request, self._auth)
        except OSError as e:
            raise GitError(f"{where}: cannot start the git worker: {e}", retryable=True) from e
        if outcome.kind != "ok":
            raise self._wrap(outcome, where)
        return outcome

    def _ssh_home(self) -> Path | None:
        """A home directory whose ``.ssh/known_hosts`` is the configured one (see gitauth)."""
        if self._auth.known_hosts is None:
            return None
        home = self.cache_dir / "modelsync-home"
        try:
            (home / ".ssh").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self._auth.known_hosts, home / ".ssh" / "known_hosts")
        except OSError as e:
            raise GitError(f"cannot read known_hosts: {e}", retryable=False) from e
        return home

    def _wrap(self, outcome: gitworker.Outcome, where: str) -> GitError:
        if outcome.kind == "auth":
            return GitError(f"{where}: authentication failed: {outcome.message}", retryable=False)
        if outcome.kind == "timeout":
            return GitError(f"{where}: timed out after {self._timeout:g}s", retryable=True)
        if outcome.rejected_host is not None or outcome.error_class == "CertificateError":
            host = outcome.rejected_host or "the server"
            return GitError(
                f"{where}: host key or certificate of {host} is not trusted "
                "(for ssh, add the host to known_hosts)",
                retryable=False,
            )
        text = redact(outcome.message, self._secrets)
        permanent = outcome.error_class in ("AuthError", "InvalidSpecError") or any(
            hint in text.lower() for hint in _PERMANENT_HINTS
        )
        return GitError(f"{where}: {text}", retryable=not permanent)


def _refuse_followed(source: GitSource | LocalSource, branch: str) -> None:
    # The rendered directory becomes the branch's whole tree: on the followed branch that
    # would replace clusters/ with manifests, and the next pass would prune everything.
    if source.follows(branch):
        raise GitError(
            f"will not publish rendered manifests to {branch}: it is the branch the "
            "Workspaces are read from (choose another --hydrate-branch)",
            retryable=False,
        )


def _str_or_none(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _absolute_if_local(url: str) -> str:
    if "://" in url or re.match(r"[^/]+:", url):  # a scheme, or scp-like host:path
        return url
    return str(Path(url).resolve())


class LocalSource(LocalRepository):
    """A repository on this machine followed at a revision: ``modelsync sync --repo .``."""

    def __init__(self, path: Path, rev: str = "HEAD") -> None:
        super().__init__(path)
        self.rev = rev

    def fetch(self) -> Revision:
        return Revision(self.resolve(self.rev), self.rev)

    def follows(self, branch: str) -> bool:
        """Whether ``branch`` is what ``rev`` names, or the checked-out branch for ``HEAD``."""
        ref = f"refs/heads/{branch}"
        if self.rev in (branch, ref):
            return True
        if self.rev != "HEAD":
            return False
        with self._lock:
            try:
                head = self._repository().lookup_reference("HEAD").target
            except LIBGIT2_ERRORS:
                return False
            return head == ref  # a detached HEAD's target is a commit id, never equal

    def publish(self, branch: str, directory: Path, message: str) -> str | None:
        """Commit ``directory`` as ``branch`` of this repository (no push: it is local)."""
        _refuse_followed(self, branch)
        with self._lock:
            return commit_directory(self._repository(), branch, directory, message)

    def restore(self, branch: str, directory: Path) -> bool:
        with self._lock:
            return restore_directory(self._repository(), branch, directory)
