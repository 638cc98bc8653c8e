"""The data modelsync ships with: JSON Schemas, the preset catalog and the charts.

In a source checkout they sit at the repository root (``schemas/``, ``presets/``,
``charts/``); in an installed wheel they are packaged under ``controller/_data``. This
adapter finds them, reads them once and hands back pure core objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from controller.core.catalog import (
    Catalog,
    gpus_from_document,
    instance_types_from_document,
    preset_from_document,
)
from controller.core.documents import Document, SourceFile, parse_document
from controller.core.schemas import SchemaSet

_KINDS = {
    "Workspace": "workspace.schema.json",
    "Cluster": "cluster.schema.json",
    "Preset": "preset.schema.json",
    "GPUCatalog": "gpu-catalog.schema.json",
    "RAGEngine": "ragengine.schema.json",
    "ControllerConfig": "controller-config.schema.json",
}


class BundleError(Exception):
    """The shipped catalog or schemas are broken: a packaging bug, not user input."""


@dataclass(frozen=True)
class Bundle:
    root: Path
    schemas: SchemaSet
    catalog: Catalog

    @property
    def charts_dir(self) -> Path:
        return self.root / "charts"


def data_root() -> Path:
    packaged = Path(__file__).resolve().parents[1] / "_data"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2]


@cache
def load_bundle(root: Path | None = None) -> Bundle:
    """Schemas and catalog from ``root`` (default: where this installation keeps them)."""
    base = root or data_root()
    schema_dir = base / "schemas"
    schemas = SchemaSet(
        {kind: json.loads((schema_dir / name).read_text()) for kind, name in _KINDS.items()}
    )
    presets = []
    for path in sorted((base / "presets" / "models").glob("*.yaml")):
        doc = _load(path, base, schemas, "Preset")
        presets.append(preset_from_document(doc.body))
    gpus = gpus_from_document(
        _load(base / "presets" / "gpus.yaml", base, schemas, "GPUCatalog").body
    )
    types = instance_types_from_document(
        _load(base / "presets" / "instance-types.yaml", base, schemas, "GPUCatalog").body
    )
    catalog = Catalog(
        presets={p.name: p for p in presets},
        gpus={g.name: g for g in gpus},
        instance_types={t.name: t for t in types},
    )
    return Bundle(base, schemas, catalog)


@cache
def config_schema(root: Path | None = None) -> dict[str, Any]:
    """The controller's config schema as JSON (its ``$defs`` hold the duration pattern)."""
    path = (root or data_root()) / "schemas" / _KINDS["ControllerConfig"]
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _load(path: Path, base: Path, schemas: SchemaSet, kind: str) -> Document:
    source = SourceFile(path.relative_to(base).as_posix(), data=path.read_bytes())
    parsed = parse_document(source)
    if not isinstance(parsed, Document):
        raise BundleError(f"{parsed.path}:{parsed.line}: {parsed.message}")
    findings = schemas.validate(kind, parsed)
    if findings:
        first = findings[0]
        raise BundleError(f"{first.file}:{first.line}: {first.field}: {first.message}")
    return parsed
