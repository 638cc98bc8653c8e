"""File operations that stay inside one directory: no ``..``, no symlink ever followed.

Adapter layer, under ``hydrate`` and ``gitpublish``. The hydrate output directory is not
fully ours: its subdirectories may be a volume or a checkout others can write to, its
ledger may be restored from a Git branch anyone with push access shaped, and the paths
come from that ledger. So every path below the root is walked one component at a time with
directory file descriptors opened ``O_NOFOLLOW`` (the ``openat`` pattern): a symlink
anywhere below the root, or a component like ``..``, is refused instead of resolved, and
a check cannot be raced by swapping a directory for a link afterwards.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Confined", "UnsafePathError", "safe_parts"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_LINK_ERRNOS = (errno.ELOOP, errno.ENOTDIR)


class UnsafePathError(OSError):
    """A path would leave the directory, or a symlink or special file stands in its way."""


def safe_parts(relative: str) -> tuple[str, ...]:
    """The components of a ``/``-separated relative path; UnsafePathError unless each is a
    plain name (not empty, ``.`` or ``..``, no NUL or backslash)."""
    parts = tuple(relative.split("/"))
    for part in parts:
        if part in ("", ".", "..") or "\0" in part or "\\" in part:
            raise UnsafePathError(f"unsafe path {relative!r}: {part!r} is not a plain name")
    return parts


class Confined:
    """Reads, writes and removes files under ``root`` (which the operator chose, so it may
    itself be a link) without following any symlink below it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, relative: str, data: bytes) -> None:
        """Write ``data`` atomically, creating directories; a link in the way is refused."""
        *dirs, name = safe_parts(relative)
        with self._directory(dirs, create=True) as fd:
            temp = f".{name}.{secrets.token_hex(4)}"
            handle = os.open(
                temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd
            )
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                # rename() replaces a link at ``name`` itself; it never writes through one.
                os.replace(temp, name, src_dir_fd=fd, dst_dir_fd=fd)
            except BaseException:
                os.unlink(temp, dir_fd=fd)
                raise

    def read(self, relative: str) -> bytes | None:
        """The file's bytes; None when it (or a directory above it) does not exist."""
        *dirs, name = safe_parts(relative)
        try:
            with self._directory(dirs, create=False) as fd:
                # O_NONBLOCK: opening a FIFO planted here must not block the controller.
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
                handle = _open(name, flags, fd, relative)
        except FileNotFoundError:
            return None
        with os.fdopen(handle, "rb") as file:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                raise UnsafePathError(f"{relative} is not a regular file")
            return file.read()

    def remove(self, relative: str) -> None:
        """Remove the file if it is there (a link there is removed itself, not its target)."""
        *dirs, name = safe_parts(relative)
        try:
            with self._directory(dirs, create=False) as fd:
                os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            return

    def directory(self, relative: str) -> Path:
        """Make sure ``relative`` is a real directory below the root (created if missing)."""
        with self._directory(safe_parts(relative), create=True):
            return self.root / relative

    @contextmanager
    def _directory(self, parts: list[str] | tuple[str, ...], *, create: bool) -> Iterator[int]:
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for i, part in enumerate(parts):
                where = "/".join(parts[: i + 1])
                try:
                    child = _open(part, _DIR_FLAGS, fd, where)
                except FileNotFoundError:
                    if not create:
                        raise
                    # Renders run concurrently: another may create it first, which is fine;
                    # the open below still refuses a link that appeared instead.
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=fd)
                    child = _open(part, _DIR_FLAGS, fd, where)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)


def _open(name: str, flags: int, dir_fd: int, shown: str) -> int:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in _LINK_ERRNOS:
            raise UnsafePathError(
                f"{shown} is a symlink (or not a directory); not following it"
            ) from e
        raise
