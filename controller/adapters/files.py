"""Read a clusters repo from the filesystem into ``SourceFile``s.

The filesystem twin of the Git tree reader: same output, same refusals. Symlinks that
leave the repository, special files and files over the size limit become ``SourceFile``s
with an ``error`` instead of bytes, so validation reports them with the rest.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from controller.core.documents import MAX_FILE_BYTES, SourceFile
from controller.core.layout import is_manifest_path


def read_paths(paths: Sequence[Path], root: Path) -> list[SourceFile]:
    """Every YAML manifest under ``paths`` (files or directories), relative to ``root``."""
    root = root.resolve()
    seen: set[str] = set()
    files: list[SourceFile] = []
    for path in paths:
        for candidate in _walk(path):
            source = _read(candidate, root)
            if source.path not in seen:
                seen.add(source.path)
                files.append(source)
    return sorted(files, key=lambda f: f.path)


def _walk(path: Path) -> Iterator[Path]:
    if not path.is_dir() or path.is_symlink():
        yield path
        return
    for directory, subdirs, names in os.walk(path, followlinks=False):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(names):
            candidate = Path(directory, name)
            if is_manifest_path(candidate.as_posix()) or (
                candidate.is_symlink() and candidate.suffix in (".yaml", ".yml")
            ):
                yield candidate


def _relative(path: Path, root: Path) -> str:
    absolute = path.absolute()
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return absolute.as_posix()


def _read(path: Path, root: Path) -> SourceFile:
    name = _relative(path, root)
    try:
        if path.is_symlink():
            target = _resolve(path)
            if not target.is_relative_to(root):
                return SourceFile(name, error=f"symlink to {path.readlink()} leaves the repository")
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return SourceFile(name, error="not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            return SourceFile(
                name, error=f"file is {info.st_size} bytes, over the {MAX_FILE_BYTES}-byte limit"
            )
        with path.open("rb") as handle:
            return SourceFile(name, data=handle.read(MAX_FILE_BYTES + 1))
    except _LoopError:
        return SourceFile(name, error="symlink loop: the link never reaches a file")
    except OSError as e:
        return SourceFile(name, error=f"cannot read: {e.strerror or e}")


class _LoopError(Exception):
    pass


def _resolve(path: Path) -> Path:
    # Python 3.11's resolve() reports a loop as RuntimeError (3.13 as OSError ELOOP); a loop
    # is something the author wrote, so it becomes a finding on that file.
    try:
        return path.resolve()
    except RuntimeError as e:
        raise _LoopError from e
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _LoopError from e
        raise
