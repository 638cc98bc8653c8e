"""Repo-local presets: the clusters repo's own ``presets/`` folder, merged into the catalog.

A platform team pins models the bundled catalog lacks (any Hugging Face model, written by
``modelsync presets add``) next to ``clusters/`` and reviews them in pull requests. The
adapters read the files; this module checks them against the Preset schema and merges them
into the bundled catalog. A repo-local preset never replaces a bundled one: a clash on a
name, alias or Hugging Face id is an error on the local file, so the figures a Workspace
is sized with cannot change silently.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from controller.core.catalog import Catalog, Preset, preset_from_document
from controller.core.documents import Document, SourceFile, parse_document
from controller.core.findings import Finding, Severity, at, from_document_error
from controller.core.schemas import SchemaSet

#: Where the repo-local presets live, beside the clusters folder.
PRESETS_DIR = "presets"
_SUFFIXES = (".yaml", ".yml")
_BUNDLE_KINDS = frozenset({"GPUCatalog", "InstanceTypeCatalog"})


@dataclass(frozen=True)
class LocalCatalog:
    """The merged catalog, what was wrong with the local files, and a digest of them."""

    catalog: Catalog
    findings: tuple[Finding, ...]
    digest: str


def presets_dir_for(clusters_path: str) -> str:
    """The repo-relative presets folder beside a clusters folder (``clusters`` -> ``presets``)."""
    parent = posixpath.dirname(clusters_path.strip("/"))
    return posixpath.join(parent, PRESETS_DIR) if parent else PRESETS_DIR


def with_local_presets(
    catalog: Catalog, files: Iterable[SourceFile], schemas: SchemaSet
) -> LocalCatalog:
    """``catalog`` plus every valid, non-clashing Preset among ``files``."""
    sources = sorted((f for f in files if f.path.endswith(_SUFFIXES)), key=lambda f: f.path)
    digest = _digest(sources)
    documents = [(source, parse_document(source)) for source in sources]
    if any(isinstance(d, Document) and d.body.get("kind") in _BUNDLE_KINDS for _, d in documents):
        # A presets/ folder with a GPU table is a copy of modelsync's own catalog (this
        # repository's layout: the example clusters/ sits beside the bundled presets/).
        return LocalCatalog(catalog, (), digest)
    findings: list[Finding] = []
    taken = _names(catalog.presets.values())
    added: dict[str, Preset] = {}
    for source, parsed in documents:
        if not isinstance(parsed, Document):
            findings.append(from_document_error(parsed))
            continue
        if parsed.body.get("kind") != "Preset":
            findings.append(
                at(
                    parsed,
                    ("kind",),
                    f"only Preset documents belong in {PRESETS_DIR}/; this file is ignored",
                    code="preset",
                    severity=Severity.WARNING,
                )
            )
            continue
        errors = schemas.validate("Preset", parsed)
        if errors:
            findings.extend(errors)
            continue
        preset = preset_from_document(parsed.body)
        clash = _clash(preset, taken)
        if clash:
            findings.append(at(parsed, ("metadata", "name"), clash, code="preset"))
            continue
        added[preset.name] = preset
        taken.update(dict.fromkeys(_keys(preset), f"{source.path}"))
    if not added:
        return LocalCatalog(catalog, tuple(findings), digest)
    merged = Catalog(
        presets={**catalog.presets, **added},
        gpus=catalog.gpus,
        instance_types=catalog.instance_types,
    )
    return LocalCatalog(merged, tuple(findings), digest)


def _keys(preset: Preset) -> set[str]:
    return {k.strip().lower() for k in (preset.name, *preset.aliases, preset.huggingface_id)}


def _names(presets: Iterable[Preset]) -> dict[str, str]:
    return {key: f"the bundled preset {p.name!r}" for p in presets for key in _keys(p)}


def _clash(preset: Preset, taken: dict[str, str]) -> str:
    for key in sorted(_keys(preset)):
        owner = taken.get(key)
        if owner is not None:
            return (
                f"{key!r} is already {owner if owner.startswith('the ') else 'taken by ' + owner};"
                " a repo-local preset cannot replace another preset: rename it or delete it"
            )
    return ""


def _digest(sources: Sequence[SourceFile]) -> str:
    hashed = hashlib.sha256()
    for source in sources:
        hashed.update(source.path.encode())
        hashed.update(source.data or (source.error or "").encode())
    return hashed.hexdigest()
