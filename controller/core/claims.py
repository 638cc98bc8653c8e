"""Which releases are not provably gone: what a cluster's broken files may still define.

Between validation and planning. A release is keyed by its Workspace's identity
(namespace/name), not by the file it came from: files are renamed and moved freely. So a
release whose Workspace is missing from the valid set may only be pruned when no file of
the cluster that failed to read, parse or validate could be that Workspace:

- a file that cannot be read or parsed, or whose name is not a usable Workspace name,
  could be any Workspace: it holds every release of the cluster;
- a file that parsed far enough to name a Workspace holds that namespace/name, and the
  release recorded as coming from that very file (its name may be what broke);
- an error in the cluster's layout (a nested cluster file, a submodule or a link to a
  folder that could not be read) holds every release.

Files of other APIs' kinds (a ConfigMap beside the Workspaces) hold nothing: they say
what they are. A KAITO kind other than Workspace and RAGEngine is taken for a typo and holds
its name. A RAGEngine shares the Workspaces' names (each is the release of that name).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.core.findings import Finding

#: The names Kubernetes accepts for a Workspace (a DNS-1123 label).
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def source_id(path: str) -> str:
    """A label-safe id of the file a release came from (paths can exceed 63 characters)."""
    return hashlib.sha256(path.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Claim:
    """The Workspace a file that did not validate may still be; an empty name: any."""

    namespace: str = ""
    name: str = ""

    @property
    def anything(self) -> bool:
        return not self.name


def claim_of(body: Mapping[str, Any] | None, default_namespace: str) -> Claim:
    """What a broken document may be, from its ``metadata`` (``None``: it did not parse)."""
    metadata = body.get("metadata") if body is not None else None
    if not isinstance(metadata, Mapping):
        return Claim()
    name, namespace = metadata.get("name"), metadata.get("namespace") or default_namespace
    if not isinstance(name, str) or not _NAME.fullmatch(name) or not isinstance(namespace, str):
        return Claim()
    return Claim(namespace, name)


@dataclass(frozen=True)
class Claims:
    """Everything a cluster's broken files may own, with the file that holds each."""

    workspaces: Mapping[tuple[str, str], str] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)  # source id -> path
    everything: tuple[str, ...] = ()  # why every release is held

    def holder(self, namespace: str, workspace: str, source: str) -> str:
        """Why the release of ``namespace/workspace`` (from file id ``source``) is kept, or
        ``""`` when nothing broken could be its Workspace: it is provably gone."""
        if self.everything:
            return self.everything[0]
        path = self.workspaces.get((namespace, workspace)) or self.sources.get(source)
        if path is not None:
            return f"{path} is invalid and may define this Workspace; keeping the release"
        return ""


#: No broken file: every release missing from Git is provably gone.
NO_CLAIMS = Claims()


def claims_of(broken: Iterable[tuple[str, Claim]], layout: Iterable[Finding] = ()) -> Claims:
    """The claims of broken files (path, claim) and of errors in the cluster's layout."""
    workspaces: dict[tuple[str, str], str] = {}
    sources: dict[str, str] = {}
    everything = [
        f"{f.file}:{f.line}: {f.message}; no release is pruned until it is fixed"
        for f in layout
        if f.is_error
    ]
    for path, claim in broken:
        sources[source_id(path)] = path
        if claim.anything:
            everything.append(
                f"{path} cannot be read as a Workspace and may define any of them; "
                "no release is pruned until it is fixed"
            )
        else:
            workspaces.setdefault((claim.namespace, claim.name), path)
    return Claims(workspaces, sources, tuple(everything))
