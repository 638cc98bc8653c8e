"""Read a Hugging Face model snapshot's small files for ``modelsync presets add``.

A snapshot is a revision's ``config.json`` and safetensors index or file, read through
``SnapshotFiles``: a directory the caller names (``--from DIR``), the revision the Hugging
Face cache holds (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
``~/.cache/huggingface/hub``, laid out as ``models--ORG--NAME/snapshots/REV/``), or the Hub
itself (``hfhub``). Only headers are read, never tensor data, so a
snapshot with just the small files (``hf download ORG/NAME config.json
model.safetensors.index.json``) is enough. The safetensors header is read here rather than
with the ``safetensors`` package, which only the workload image carries: the format is an
8-byte little-endian length followed by that many bytes of JSON.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from controller.core.hfpreset import SnapshotError, WeightFacts, tensor_totals

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
#: A header larger than this is not a safetensors header (the format caps it at 100 MB).
MAX_HEADER_BYTES = 100 * 1024 * 1024
#: Shard headers read at once (requests' connection pool keeps 10 per host).
HEADER_READERS = 8
_REVISION = re.compile(r"[0-9a-f]{40}")
#: A branch or tag name as the Hub accepts it (``main``, ``v1.0``, ``refs/pr/3``).
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,254}")


class SnapshotFiles(Protocol):
    """A model revision's files, wherever they are (a directory here, the Hub in hfhub)."""

    @property
    def revision(self) -> str: ...
    @property
    def origin(self) -> str: ...
    def has(self, name: str) -> bool: ...
    def text(self, name: str) -> str | None:
        """The file's text; None when the revision has no such file."""

    def header(self, name: str) -> dict[str, Any]:
        """The JSON header of a safetensors file (never its tensor data)."""

    def where(self, name: str) -> str:
        """Where the file is, for messages."""


@dataclass(frozen=True)
class Snapshot:
    """A snapshot directory on disk (``--from DIR`` or the cache's ``snapshots/REV``)."""

    path: Path
    revision: str
    origin: str

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def text(self, name: str) -> str | None:
        try:
            return (self.path / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise SnapshotError(f"cannot read {self.path / name}: {e}") from e

    def header(self, name: str) -> dict[str, Any]:
        return read_header(self.path / name)

    def where(self, name: str) -> str:
        return str(self.path / name)


def hub_cache(env: Mapping[str, str]) -> Path:
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"])
    home = Path(env["HF_HOME"]) if env.get("HF_HOME") else Path.home() / ".cache" / "huggingface"
    return home / "hub"


def check_revision(revision: str | None) -> None:
    if revision is not None and (not _REF.fullmatch(revision) or ".." in revision):
        raise SnapshotError(f"--revision must be a commit, branch or tag, got {revision!r}")


def find_snapshot(directory: Path, revision: str | None) -> Snapshot:
    """``--from DIR``: the directory and its 40-hex commit (the name or ``--revision``)."""
    if revision is not None and not _REVISION.fullmatch(revision):
        raise SnapshotError(
            f"with --from, --revision must be the 40-hex commit the files were downloaded "
            f"at, got {revision!r}"
        )
    pinned = revision or directory.name
    if not _REVISION.fullmatch(pinned):
        raise SnapshotError(
            f"{directory} is not named after a commit: pass --revision SHA "
            "(the 40-hex Hub commit the files were downloaded at)"
        )
    return Snapshot(directory, pinned, f"a snapshot directory ({directory.name})")


def cached_snapshot(
    hf_id: str, *, revision: str | None, env: Mapping[str, str] = os.environ
) -> Snapshot | None:
    """The cache's snapshot of ``revision`` (a commit, or a ref the cache recorded), if any."""
    repo = cache_repo(hf_id, env)
    pinned = revision
    if revision is None or not _REVISION.fullmatch(revision):
        ref = repo / "refs" / (revision or "main")
        pinned = ref.read_text().strip() if ref.is_file() else None
    if pinned is None or not _REVISION.fullmatch(pinned):
        return None
    path = repo / "snapshots" / pinned
    # A snapshot without config.json (only a tokenizer was downloaded) cannot size anything.
    if not (path / "config.json").is_file():
        return None
    return Snapshot(path, pinned, "the Hugging Face cache")


def cache_repo(hf_id: str, env: Mapping[str, str] = os.environ) -> Path:
    return hub_cache(env) / ("models--" + hf_id.replace("/", "--"))


def not_cached(hf_id: str, revision: str | None, env: Mapping[str, str] = os.environ) -> str:
    """What to do when the cache lacks the model and the Hub is not to be asked."""
    return (
        f"{hf_id}{'@' + revision if revision else ''} is not in the Hugging Face cache "
        f"({cache_repo(hf_id, env)}); download its small files first, e.g. `hf download "
        f"{hf_id} config.json {INDEX_FILE}`, or pass --from DIR"
    )


def read_snapshot(files: SnapshotFiles) -> tuple[dict[str, Any], WeightFacts, dict[str, Any]]:
    """``config.json``, the weight facts and the model card's front matter."""
    config = _json(files, "config.json")
    if files.has(INDEX_FILE):
        weights = _from_index(files, _json(files, INDEX_FILE))
    elif files.has(SINGLE_FILE):
        header = files.header(SINGLE_FILE)
        parameters, size, counts = tensor_totals(header)
        weights = WeightFacts(SINGLE_FILE, size, parameters, counts, sorted(header))
    else:
        raise SnapshotError(
            f"{files.where('')} has neither {INDEX_FILE} nor {SINGLE_FILE} (only safetensors "
            "checkpoints are read)"
        )
    return config, weights, _front_matter(files.text("README.md"))


def header_length(prefix: bytes, where: str) -> int:
    """The JSON header's length from a safetensors file's first 8 bytes (little-endian u64)."""
    if len(prefix) != 8:
        raise SnapshotError(f"{where} is too short to be a safetensors file")
    (length,) = struct.unpack("<Q", prefix)
    if length > MAX_HEADER_BYTES:
        raise SnapshotError(f"{where}: a {length}-byte header is not safetensors")
    return int(length)


def parse_header(raw: bytes, where: str) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except ValueError as e:
        raise SnapshotError(f"cannot read the safetensors header of {where}: {e}") from e
    if not isinstance(header, dict):
        raise SnapshotError(f"{where}: the safetensors header is not a JSON object")
    return header


def read_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor name -> dtype, shape, data_offsets)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(header_length(handle.read(8), str(path)))
    except OSError as e:
        raise SnapshotError(f"cannot read the safetensors header of {path}: {e}") from e
    return parse_header(raw, str(path))


def _from_index(files: SnapshotFiles, index: Mapping[str, Any]) -> WeightFacts:
    total = (index.get("metadata") or {}).get("total_size")
    weight_map = index.get("weight_map") or {}
    if not isinstance(total, int) or total <= 0:
        raise SnapshotError(f"{INDEX_FILE} has no metadata.total_size")
    shards = sorted(set(weight_map.values()))
    if not shards or not all(files.has(shard) for shard in shards):
        # Only the small files were downloaded: bytes from the index, parameters derived.
        return WeightFacts(INDEX_FILE, total, tensor_names=sorted(weight_map))
    parameters = 0
    counts: dict[str, int] = {}
    # From the Hub each header is two round trips, and large models have over a hundred
    # shards: a few at a time keeps that to seconds (on disk it costs nothing).
    with ThreadPoolExecutor(max_workers=HEADER_READERS) as pool:
        headers = list(pool.map(files.header, shards))
    for header in headers:
        count, _, by_dtype = tensor_totals(header)
        parameters += count
        for dtype, n in by_dtype.items():
            counts[dtype] = counts.get(dtype, 0) + n
    return WeightFacts(INDEX_FILE, total, parameters, counts, sorted(weight_map))


def _json(files: SnapshotFiles, name: str) -> dict[str, Any]:
    text = files.text(name)
    if text is None:
        raise SnapshotError(f"{files.where(name)} is missing")
    try:
        body = json.loads(text)
    except ValueError as e:
        raise SnapshotError(f"cannot read {files.where(name)}: {e}") from e
    if not isinstance(body, dict):
        raise SnapshotError(f"{files.where(name)} is not a JSON object")
    return body


def _front_matter(text: str | None) -> dict[str, Any]:
    """The YAML between the card's leading ``---`` lines (license, tags); {} when absent."""
    if text is None or not text.startswith("---"):
        return {}
    block = text[3:].split("\n---", 1)[0]
    try:
        meta = yaml.safe_load(block)
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}
