"""Reading commits of a repository on disk: files under a prefix and paths that changed.

Adapter layer, shared by ``gitsource.GitSource`` (the controller's fetched cache) and
``LocalRepository`` (a checkout, for ``modelsync diff`` in CI). Blobs become
``core.documents.SourceFile``s; whatever is not handed over (a blob over
``MAX_FILE_BYTES``, a symlink leaving the repository or the prefix, a submodule) becomes a
``SourceFile`` with an ``error``, so one bad file never hides the others.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Iterator
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from controller.core.documents import MAX_FILE_BYTES, SourceFile
from controller.core.ports import GitError

__all__ = ["GitError", "LocalRepository", "changed_paths", "read_tree"]

_MAX_LINK_HOPS = 8
_MAX_LINK_BYTES = 4096
#: What libgit2 raises through pygit2 (NotFoundError is a KeyError, ...).
LIBGIT2_ERRORS = (pygit2.GitError, KeyError, ValueError, OSError)


class TreeView:
    """``read_tree`` and ``changed_paths`` over whatever repository a subclass opens."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def _repository(self) -> pygit2.Repository:
        raise NotImplementedError

    def read_tree(self, commit: str, prefix: str = "") -> list[SourceFile]:
        """Every file under ``prefix`` at ``commit``, sorted by path; refusals as errors."""
        with self._lock:
            return read_tree(self._repository(), commit, prefix)

    def changed_paths(self, old: str | None, new: str, prefix: str = "") -> frozenset[str] | None:
        """Paths under ``prefix`` that differ between two commits; None means "all of them"."""
        with self._lock:
            return changed_paths(self._repository(), old, new, prefix)


class LocalRepository(TreeView):
    """An existing repository or checkout on disk (``modelsync diff`` in CI)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        try:
            found = pygit2.discover_repository(str(path))
            if found is None:
                raise GitError(f"no Git repository at {path}", retryable=False)
            self._repo = pygit2.Repository(found)
        except LIBGIT2_ERRORS as e:
            raise GitError(f"no Git repository at {path}: {e}", retryable=False) from e
        self.path = path

    def _repository(self) -> pygit2.Repository:
        return self._repo

    def resolve(self, rev: str) -> str:
        """Any rev-parse spec (branch, tag, sha, ``HEAD~1``, ``origin/main``) -> 40 hex."""
        with self._lock:
            try:
                return str(self._repo.revparse_single(rev).peel(pygit2.Commit).id)
            except LIBGIT2_ERRORS as e:
                raise GitError(
                    f"cannot resolve {rev!r} in {self.path}: {e}", retryable=False
                ) from e


def commit_or_none(repo: pygit2.Repository, sha: str) -> pygit2.Commit | None:
    try:
        return repo[sha].peel(pygit2.Commit)
    except LIBGIT2_ERRORS:
        return None


def _commit(repo: pygit2.Repository, sha: str) -> pygit2.Commit:
    commit = commit_or_none(repo, sha)
    if commit is None:
        raise GitError(f"commit {sha} is not in the repository", retryable=False)
    return commit


def _clean_prefix(prefix: str) -> str:
    cleaned = posixpath.normpath(prefix.strip("/")) if prefix.strip("/") else ""
    if cleaned == ".." or cleaned.startswith("../"):
        raise ValueError(f"prefix {prefix!r} leaves the repository")
    return cleaned


def _under(path: str, prefix: str) -> bool:
    return not prefix or path == prefix or path.startswith(prefix + "/")


def _join(prefix: str, path: str) -> str:
    return f"{prefix}/{path}" if prefix else path


def _subtree(root: pygit2.Tree, prefix: str) -> pygit2.Tree | None:
    if not prefix:
        return root
    try:
        found = root[prefix]
    except (KeyError, ValueError):
        return None
    return found if isinstance(found, pygit2.Tree) else None


def _walk(tree: pygit2.Tree, base: str) -> Iterator[tuple[str, pygit2.Object]]:
    """Every non-tree entry below ``tree`` with its repo-relative path."""
    for entry in tree:
        path = _join(base, entry.name or "")
        if isinstance(entry, pygit2.Tree):
            yield from _walk(entry, path)
        else:
            yield path, entry


def read_tree(repo: pygit2.Repository, commit: str, prefix: str = "") -> list[SourceFile]:
    """Every file under ``prefix`` at ``commit`` as ``SourceFile``s, sorted by path."""
    prefix = _clean_prefix(prefix)
    root = _commit(repo, commit).tree
    start = _subtree(root, prefix)
    if start is None:
        return []
    odb = repo.odb
    files = []
    for path, entry in _walk(start, prefix):
        if entry.filemode == FileMode.COMMIT:
            files.append(SourceFile(path, error="submodule (gitlink) is not read"))
        elif entry.filemode == FileMode.LINK:
            _, target = _follow_link(odb, root, prefix, path, entry)
            if isinstance(target, str):
                files.append(SourceFile(path, error=target))
            else:
                files.append(_blob_file(odb, path, target))
        else:
            files.append(_blob_file(odb, path, entry.id))
    files.sort(key=lambda f: f.path)
    return files


def changed_paths(
    repo: pygit2.Repository, old: str | None, new: str, prefix: str = ""
) -> frozenset[str] | None:
    """Paths under ``prefix`` added, modified or deleted from ``old`` to ``new``.

    A rename gives both names; a symlink whose target changed counts as changed. None when
    ``old`` is None or not in the repository: the caller must treat every path as changed.
    """
    if old is None:
        return None
    old_commit = commit_or_none(repo, old)
    if old_commit is None:
        return None
    prefix = _clean_prefix(prefix)
    new_root = _commit(repo, new).tree
    before, after = _subtree(old_commit.tree, prefix), _subtree(new_root, prefix)
    if before is not None and after is not None:
        if before.id == after.id:
            return frozenset()
        diff = before.diff_to_tree(after)
    elif before is not None:
        diff = before.diff_to_tree()
    elif after is not None:
        diff = after.diff_to_tree()
    else:
        return frozenset()
    paths = set()
    for delta in diff.deltas:
        paths.add(_join(prefix, delta.old_file.path))
        paths.add(_join(prefix, delta.new_file.path))
    if after is not None:
        odb = repo.odb
        for path, entry in _walk(after, prefix):
            if entry.filemode == FileMode.LINK:
                chain, _ = _follow_link(odb, new_root, prefix, path, entry)
                if chain & paths:
                    paths.add(path)
    return frozenset(paths)


def _blob_file(odb: pygit2.Odb, path: str, oid: pygit2.Oid) -> SourceFile:
    # The header costs no inflating: an oversized blob is refused before it is loaded.
    _, size = odb.read_header(oid)
    if size > MAX_FILE_BYTES:
        return SourceFile(path, error=f"{size} bytes is over the {MAX_FILE_BYTES}-byte limit")
    return SourceFile(path, data=odb.read(oid)[1])


def _follow_link(
    odb: pygit2.Odb, root: pygit2.Tree, prefix: str, path: str, entry: pygit2.Object
) -> tuple[set[str], pygit2.Oid | str]:
    """Follow a symlink: the paths it passes through, and the blob it ends at or why not."""
    chain: set[str] = set()
    for _ in range(_MAX_LINK_HOPS):
        if odb.read_header(entry.id)[1] > _MAX_LINK_BYTES:
            return chain, "symlink target is too long"
        target = odb.read(entry.id)[1].decode("utf-8", "surrogateescape")
        path = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        chain.add(path)
        refusal = _escape(target, path, prefix)
        if refusal is None:
            found = _lookup(root, path)
            if found is not None and found.filemode == FileMode.LINK:
                entry = found
                continue
            if isinstance(found, pygit2.Blob):
                return chain, found.id
            what = "points at nothing" if found is None else "is not a file"
            refusal = f"symlink to {target!r} {what}"
        return chain, refusal
    return chain, "too many levels of symlinks"


def _escape(target: str, resolved: str, prefix: str) -> str | None:
    if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
        return f"symlink to {target!r} leaves the repository"
    if not _under(resolved, prefix):
        return f"symlink to {target!r} leaves {prefix}/"
    return None


def _lookup(root: pygit2.Tree, path: str) -> pygit2.Object | None:
    if path == ".":
        return root
    try:
        return root[path]
    except (KeyError, ValueError):
        return None
