"""``modelsync presets add ORG/MODEL``: pin a Hugging Face model as a repo-local preset.

Reads the model's ``config.json`` and safetensors index (or header) from a snapshot on disk
(``--from DIR``), else the Hugging Face cache, else the Hub (``$HF_ENDPOINT``; never with
``$HF_HUB_OFFLINE`` set), writes ``presets/<name>.yaml`` into the clusters repo, pinned to
the commit the figures came from, and checks the file against the Preset schema before
writing. The Hub client (``requests``) is imported only when the Hub is asked. The file is
meant to be committed and reviewed; ``validate``, ``diff``, ``render`` and ``sync`` then
size Workspaces naming the model (by preset name or by its Hugging Face id) with these
figures.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from controller.adapters.bundled import load_bundle
from controller.adapters.hfsnapshot import (
    SnapshotFiles,
    cached_snapshot,
    check_revision,
    find_snapshot,
    not_cached,
    read_snapshot,
)
from controller.core.catalog import GIB
from controller.core.checks import HUGGING_FACE_ID
from controller.core.documents import Document, SourceFile, parse_document
from controller.core.hfpreset import PresetDraft, SnapshotError, WeightFacts, draft_preset
from controller.core.localpresets import PRESETS_DIR


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add = verbs.add_parser(
        "add", help="write presets/<name>.yaml for a Hugging Face model (snapshot, cache or Hub)"
    )
    add.add_argument("model", metavar="ORG/MODEL", help="the Hugging Face id")
    add.add_argument(
        "--from",
        dest="directory",
        type=Path,
        metavar="DIR",
        help="a snapshot directory (default: the Hugging Face cache, $HF_HOME honoured, "
        "then the Hub at $HF_ENDPOINT)",
    )
    add.add_argument(
        "--revision",
        metavar="REV",
        help="the Hub commit, branch or tag (default main); the preset pins its commit",
    )
    add.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="a file holding the Hub token for a gated or private model (default $HF_TOKEN)",
    )
    add.add_argument(
        "--out",
        type=Path,
        default=Path(PRESETS_DIR),
        metavar="PRESETS_DIR",
        help="the clusters repo's presets folder (default presets)",
    )
    add.add_argument(
        "--gated",
        action="store_true",
        help="record the model as gated (when read from the Hub, its API says so)",
    )
    add.add_argument("--force", action="store_true", help="overwrite an existing file")
    add.set_defaults(handler=run_add)


def run_add(args: argparse.Namespace) -> int:
    if not HUGGING_FACE_ID.fullmatch(args.model):
        print(f"modelsync presets add: {args.model!r} is not ORG/MODEL", file=sys.stderr)
        return 2
    bundle = load_bundle()
    existing = bundle.catalog.preset(args.model)
    if existing is not None:
        print(
            f"modelsync presets add: {args.model} is already the bundled preset "
            f"{existing.name!r}; name that in the Workspace",
            file=sys.stderr,
        )
        return 2
    try:
        check_revision(args.revision)
        draft = _draft(args)
    except SnapshotError as e:
        print(f"modelsync presets add: {e}", file=sys.stderr)
        return 1
    except _HubUnavailableError as e:
        print(f"modelsync presets add: {e}", file=sys.stderr)
        return 2
    target: Path = args.out / f"{draft.name}.yaml"
    if target.exists() and not args.force:
        print(f"modelsync presets add: {target} exists (--force overwrites)", file=sys.stderr)
        return 2
    text = draft.text(lambda body: yaml.safe_dump(body, sort_keys=False, width=100))
    problems = _schema_problems(target, text)
    if problems:
        # A bug here, not in the snapshot: the draft must always pass the schema.
        print(
            f"modelsync presets add: the draft fails the Preset schema: {problems}", file=sys.stderr
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    _summary(draft, target)
    return 0


_Parts = tuple[dict[str, Any], WeightFacts, dict[str, Any]]


class _HubUnavailableError(Exception):
    """The Hub could not be asked (the adapter's HubError, re-raised without importing it)."""


def _draft(args: argparse.Namespace) -> PresetDraft:
    files: SnapshotFiles | None
    if args.directory is not None:
        files = find_snapshot(args.directory, args.revision)
    else:
        files = cached_snapshot(args.model, revision=args.revision)
    hub_gated: bool | None = None
    if files is None:
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            raise SnapshotError(not_cached(args.model, args.revision) + " ($HF_HUB_OFFLINE is set)")
        files, parts, hub_gated = _from_hub(args)
    else:
        parts = read_snapshot(files)
    config, weights, card = parts
    return draft_preset(
        args.model,
        files.revision,
        config,
        weights,
        card,
        origin=files.origin,
        gated=args.gated or bool(hub_gated),
        gated_by=(
            "as given to the command (--gated)"
            if args.gated or hub_gated is None
            else "as the Hub's model API says"
        ),
    )


def _from_hub(args: argparse.Namespace) -> tuple[SnapshotFiles, _Parts, bool]:
    from controller.adapters.hfhub import HubError, hub_token, open_hub

    try:
        hub = open_hub(args.model, args.revision, token=hub_token(args.token_file))
        try:
            return hub, read_snapshot(hub), hub.gated
        finally:
            hub.close()
    except HubError as e:
        raise _HubUnavailableError(str(e)) from e


def _schema_problems(target: Path, text: str) -> str:
    parsed = parse_document(SourceFile(target.as_posix(), data=text.encode()))
    if not isinstance(parsed, Document):
        return parsed.message
    findings = load_bundle().schemas.validate("Preset", parsed)
    return "; ".join(f"{f.field}: {f.message}" for f in findings)


def _summary(draft: PresetDraft, target: Path) -> None:
    model = draft.body["model"]
    print(
        f"wrote {target}: preset {draft.name!r}, {model['parameters'] / 1e9:.2f}B parameters, "
        f"{model['weightBytes'] / GIB:.2f} GiB of {model['dtype']} weights, "
        f"{model['contextLength']:,} tokens of context"
    )
    for line in draft.header[2:]:
        print(f"  {line}")
    print(
        "Review the figures, commit the file, and name the preset (or the model id) in Workspaces."
    )
