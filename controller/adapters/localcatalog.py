"""Find and read the clusters repo's own ``presets/`` folder (beside ``clusters/``).

The core merges the files into the bundled catalog (``core.localpresets``, which also
recognises this repository's own layout: the bundled ``presets/`` beside the example
``clusters/``); this adapter only locates the folder on disk and reads it.
"""

from __future__ import annotations

from pathlib import Path

from controller.adapters.bundled import Bundle
from controller.adapters.files import read_paths
from controller.core.layout import CLUSTER_FILE
from controller.core.localpresets import PRESETS_DIR, LocalCatalog, with_local_presets


def presets_beside(path: Path) -> Path:
    """The presets folder of the clusters repo ``path`` lies in.

    ``path`` is the clusters folder, a cluster's folder or a file in one; the presets folder
    sits beside the clusters folder. Anything else: ``./presets``.
    """
    absolute = path.absolute()
    for directory in (absolute, *absolute.parents):
        if (directory / CLUSTER_FILE).is_file():
            return directory.parent.parent / PRESETS_DIR
    if absolute.is_dir() and any(absolute.glob(f"*/{CLUSTER_FILE}")):
        return absolute.parent / PRESETS_DIR
    return Path.cwd().absolute() / PRESETS_DIR


def local_catalog(bundle: Bundle, presets: Path, root: Path) -> LocalCatalog:
    """The bundle's catalog with the presets under ``presets`` (paths relative to ``root``)."""
    files = read_paths([presets], root) if presets.is_dir() else []
    return with_local_presets(bundle.catalog, files, bundle.schemas)
