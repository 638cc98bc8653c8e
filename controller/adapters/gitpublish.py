"""Rendered manifests to a Git branch: one commit when something changed, none otherwise.

The hydrate target's "environment branch" (``environments/<cluster>``), the pattern Argo
CD's source hydrator and Kargo use: a directory of rendered files becomes the tree of a
commit on top of the branch tip, made with pygit2 (no working tree, no index file, no
``git`` binary). ``GitSource`` and ``LocalSource`` use these functions on their own
repository, and push when the repository is a cache of a remote.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pygit2

from controller.adapters.confined import Confined, UnsafePathError, safe_parts
from controller.adapters.gittree import LIBGIT2_ERRORS, GitError

AUTHOR = pygit2.Signature("modelsync", "modelsync@users.noreply.github.com")
_BLOB = pygit2.enums.FileMode.BLOB


def _tree(repo: pygit2.Repository, directory: Path) -> pygit2.Oid:
    """Write the regular files under ``directory`` as blobs and trees; return the root."""
    builder = repo.TreeBuilder()
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.is_symlink():
            continue  # temporary files of atomic writes, and nothing that points elsewhere
        if entry.is_dir():
            builder.insert(entry.name, _tree(repo, Path(entry.path)), pygit2.enums.FileMode.TREE)
        elif entry.is_file():
            blob = repo.create_blob(Path(entry.path).read_bytes())
            builder.insert(entry.name, blob, _BLOB)
    return builder.write()


def commit_directory(
    repo: pygit2.Repository, branch: str, directory: Path, message: str
) -> str | None:
    """Commit ``directory`` as the whole tree of ``branch``; None when the tree is unchanged."""
    ref = f"refs/heads/{branch}"
    try:
        tree = _tree(repo, directory)
        tip = repo.references.get(ref)
        parents = []
        if tip is not None:
            parent = tip.peel(pygit2.Commit)
            if parent.tree_id == tree:
                return None
            parents = [parent.id]
        oid = repo.create_commit(ref, AUTHOR, AUTHOR, message, tree, parents)
    except (OSError, *LIBGIT2_ERRORS) as e:
        raise GitError(f"cannot commit {directory} to {branch}: {e}", retryable=False) from e
    return str(oid)


def restore_directory(repo: pygit2.Repository, branch: str, directory: Path) -> bool:
    """Write the branch tip's files into an empty ``directory`` (a controller restarted on a
    fresh volume picks up where the branch left off). False when there is no branch.

    The branch is input anyone with push access shaped: every entry name is checked before
    anything is written (a tree entry ``..`` or ``a/b`` refuses the whole restore), and the
    files are written through ``Confined``, so no symlink in ``directory`` is followed.
    """
    ref = repo.references.get(f"refs/heads/{branch}")
    if ref is None:
        return False
    try:
        files = dict(_blobs(repo, ref.peel(pygit2.Commit).tree, ""))
        out = Confined(directory)
        for path, data in files.items():
            out.write(path, data)
    except (OSError, *LIBGIT2_ERRORS) as e:
        raise GitError(f"cannot restore {branch} into {directory}: {e}", retryable=False) from e
    return True


def _blobs(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str) -> Iterator[tuple[str, bytes]]:
    for entry in tree:
        name = entry.name or ""
        if len(safe_parts(name)) != 1:
            raise UnsafePathError(f"tree entry {prefix + name!r} is not a plain name")
        if entry.filemode == pygit2.enums.FileMode.TREE:
            yield from _blobs(repo, repo[entry.id].peel(pygit2.Tree), f"{prefix}{name}/")
        elif entry.filemode in (_BLOB, pygit2.enums.FileMode.BLOB_EXECUTABLE):
            yield prefix + name, repo[entry.id].peel(pygit2.Blob).data
