"""Which files of a clusters repo belong to which cluster.

The first sort of the validation pipeline (``validation.py``): manifests are the YAML files
not hidden and not kustomization files; a cluster is a folder with a ``cluster.yaml``, and
it owns every manifest below it. Clusters do not nest (see ``cluster_dirs``). An entry the
source could not read that is no manifest by name (a submodule, a link to a folder) is
not skipped: it is an error of its cluster, since it may stand for Workspaces.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Mapping, Sequence

from controller.core.documents import SourceFile
from controller.core.findings import Finding

CLUSTER_FILE = "cluster.yaml"
_YAML_SUFFIXES = (".yaml", ".yml")
_IGNORED_NAMES = frozenset({"kustomization.yaml", "kustomization.yml"})


def is_manifest_path(path: str) -> bool:
    name = posixpath.basename(path)
    return (
        # "w.yaml\n" is still meant as a manifest: read it, so its name is refused, not skipped.
        name.rstrip().endswith(_YAML_SUFFIXES)
        and name not in _IGNORED_NAMES
        and not name.startswith((".", "_"))
    )


def join(directory: str, name: str) -> str:
    return posixpath.join(directory, name) if directory else name


def cluster_dirs(sources: Sequence[SourceFile]) -> tuple[set[str], dict[str, list[str]]]:
    """The folders that are clusters, and the cluster files nested below each of them.

    Clusters do not nest: a ``cluster.yaml`` below another cluster's folder (an empty file
    added by mistake, a copy of a template) must not take that folder's Workspaces away
    from the cluster that released them, which would uninstall them. The outermost
    cluster file owns its whole folder; a nested one is an error finding of that cluster.
    """
    found = {
        posixpath.dirname(f.path) for f in sources if posixpath.basename(f.path) == CLUSTER_FILE
    }
    inner = {d for d in found if d and owner(d, found) is not None}
    nested: dict[str, list[str]] = defaultdict(list)
    for directory in sorted(inner):
        nested[_outermost(directory, found)].append(join(directory, CLUSTER_FILE))
    return found - inner, nested


def _outermost(directory: str, dirs: set[str]) -> str:
    while directory and (outer := owner(directory, dirs)) is not None:
        directory = outer
    return directory


def layout_findings(
    files: Sequence[SourceFile], dirs: set[str], nested: Mapping[str, Sequence[str]]
) -> dict[str | None, list[Finding]]:
    """Errors in the layout of each cluster folder: nested cluster files, unread entries."""
    found: dict[str | None, list[Finding]] = defaultdict(list)
    for directory, paths in nested.items():
        found[directory] += _nested_findings(directory, paths)
    for entry in files:
        if entry.error is not None and not is_manifest_path(entry.path):
            found[owner(entry.path, dirs)].append(_unread_finding(entry))
    return found


def _nested_findings(directory: str, paths: Sequence[str]) -> list[Finding]:
    folder = f"{directory}/" if directory else "the repository root"
    return [
        Finding(
            path,
            1,
            1,
            "",
            f"a cluster file inside cluster folder {folder}: clusters do not nest, so this "
            "file is ignored and its folder stays part of that cluster; move it or remove it",
            code="cluster",
        )
        for path in paths
    ]


def owner(path: str, cluster_dirs: set[str]) -> str | None:
    """The cluster folder ``path`` belongs to: the nearest one strictly above it."""
    directory = posixpath.dirname(path)
    while True:
        if directory in cluster_dirs:
            return directory
        if not directory:
            return None
        directory = posixpath.dirname(directory)


def _unread_finding(entry: SourceFile) -> Finding:
    """An entry that is no manifest by name and could not be read: a submodule, or a link
    to a folder or out of the cluster. What it stands for may hold Workspaces, so it is an
    error (and holds every release of its cluster: claims.py) rather than skipped."""
    return Finding(
        entry.path,
        1,
        1,
        "",
        f"not read ({entry.error}); it may stand for a folder of Workspaces, which "
        "modelsync cannot see: replace it with the files themselves",
        code="unread",
    )
