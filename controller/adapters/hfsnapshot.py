"""Read a Hugging Face model snapshot from disk for ``modelsync presets add``.

A snapshot is a directory holding ``config.json`` and the safetensors index or file: one
the caller names (``--from DIR``), or the revision the Hugging Face cache holds
(``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``, laid out
as ``models--ORG--NAME/snapshots/REV/``). Only headers are read, never tensor data, so a
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller.core.hfpreset import SnapshotError, WeightFacts, tensor_totals

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
#: A header larger than this is not a safetensors header (the format caps it at 100 MB).
MAX_HEADER_BYTES = 100 * 1024 * 1024
_REVISION = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Snapshot:
    path: Path
    revision: str
    origin: str


def hub_cache(env: Mapping[str, str]) -> Path:
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"])
    home = Path(env["HF_HOME"]) if env.get("HF_HOME") else Path.home() / ".cache" / "huggingface"
    return home / "hub"


def find_snapshot(
    hf_id: str,
    *,
    directory: Path | None,
    revision: str | None,
    env: Mapping[str, str] = os.environ,
) -> Snapshot:
    """The snapshot to read and its 40-hex commit; ``SnapshotError`` says what to do when none."""
    if revision is not None and not _REVISION.fullmatch(revision):
        raise SnapshotError(f"--revision must be a 40-hex commit, got {revision!r}")
    if directory is not None:
        pinned = revision or (directory.name if _REVISION.fullmatch(directory.name) else None)
        if pinned is None:
            raise SnapshotError(
                f"{directory} is not named after a commit: pass --revision SHA "
                "(the Hub commit the files were downloaded at)"
            )
        return Snapshot(directory, pinned, f"a snapshot directory ({directory.name})")
    repo = hub_cache(env) / ("models--" + hf_id.replace("/", "--"))
    ref = repo / "refs" / "main"
    pinned = revision or (ref.read_text().strip() if ref.is_file() else None)
    path = repo / "snapshots" / pinned if pinned else None
    if path is None or not path.is_dir():
        raise SnapshotError(
            f"{hf_id}{'@' + revision if revision else ''} is not in the Hugging Face cache "
            f"({repo}); download its small files first, e.g. `hf download {hf_id} config.json "
            f"{INDEX_FILE}`, or pass --from DIR"
        )
    return Snapshot(path, path.name, "the Hugging Face cache")


def read_snapshot(snapshot: Snapshot) -> tuple[dict[str, Any], WeightFacts, dict[str, Any]]:
    """``config.json``, the weight facts and the model card's front matter."""
    config = _json(snapshot.path / "config.json")
    index = snapshot.path / INDEX_FILE
    if index.is_file():
        weights = _from_index(snapshot.path, _json(index))
    elif (snapshot.path / SINGLE_FILE).is_file():
        parameters, size, counts = tensor_totals(read_header(snapshot.path / SINGLE_FILE))
        names = sorted(read_header(snapshot.path / SINGLE_FILE))
        weights = WeightFacts(SINGLE_FILE, size, parameters, counts, names)
    else:
        raise SnapshotError(
            f"{snapshot.path} has neither {INDEX_FILE} nor {SINGLE_FILE} (only safetensors "
            "checkpoints are read)"
        )
    return config, weights, _front_matter(snapshot.path / "README.md")


def read_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor name -> dtype, shape, data_offsets)."""
    try:
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) != 8:
                raise SnapshotError(f"{path} is too short to be a safetensors file")
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_BYTES:
                raise SnapshotError(f"{path}: a {length}-byte header is not safetensors")
            header = json.loads(handle.read(length))
    except (OSError, ValueError) as e:
        raise SnapshotError(f"cannot read the safetensors header of {path}: {e}") from e
    if not isinstance(header, dict):
        raise SnapshotError(f"{path}: the safetensors header is not a JSON object")
    return header


def _from_index(directory: Path, index: Mapping[str, Any]) -> WeightFacts:
    total = (index.get("metadata") or {}).get("total_size")
    weight_map = index.get("weight_map") or {}
    if not isinstance(total, int) or total <= 0:
        raise SnapshotError(f"{INDEX_FILE} has no metadata.total_size")
    shards = sorted(set(weight_map.values()))
    if not shards or not all((directory / shard).is_file() for shard in shards):
        # Only the small files were downloaded: bytes from the index, parameters derived.
        return WeightFacts(INDEX_FILE, total, tensor_names=sorted(weight_map))
    parameters = 0
    counts: dict[str, int] = {}
    for shard in shards:
        count, _, by_dtype = tensor_totals(read_header(directory / shard))
        parameters += count
        for dtype, n in by_dtype.items():
            counts[dtype] = counts.get(dtype, 0) + n
    return WeightFacts(INDEX_FILE, total, parameters, counts, sorted(weight_map))


def _json(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise SnapshotError(f"{path} is missing") from e
    except (OSError, ValueError) as e:
        raise SnapshotError(f"cannot read {path}: {e}") from e
    if not isinstance(body, dict):
        raise SnapshotError(f"{path} is not a JSON object")
    return body


def _front_matter(path: Path) -> dict[str, Any]:
    """The YAML between the card's leading ``---`` lines (license, tags); {} when absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    if not text.startswith("---"):
        return {}
    block = text[3:].split("\n---", 1)[0]
    try:
        meta = yaml.safe_load(block)
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}
