"""What a change to the clusters repo does to the releases: added, changed, removed.

The pure half of ``modelsync diff``: two sets of desired releases (base and head commit)
in, the differences out, each changed release with a unified diff of its values. Manifest
diffs need rendering and are added by the caller. The Karpenter NodePools and NodeClasses
of each cluster (nodepools.py) are compared the same way, object by object.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml

from controller.core.releases import DesiredRelease, plain


class ChangeKind(StrEnum):
    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    cluster: str
    namespace: str
    name: str
    base: DesiredRelease | None
    head: DesiredRelease | None

    @property
    def release(self) -> DesiredRelease:
        chosen = self.head or self.base
        assert chosen is not None
        return chosen

    def values_diff(self) -> str:
        return unified(values_yaml(self.base), values_yaml(self.head), "values")


def values_yaml(release: DesiredRelease | None) -> str:
    if release is None:
        return ""
    return yaml.safe_dump(
        {"chart": f"{release.chart} {release.chart_version}", "values": plain(release.values)},
        sort_keys=True,
    )


def unified(before: str, after: str, label: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        f"base/{label}",
        f"head/{label}",
        n=3,
    )
    return "".join(lines)


def compare(base: Sequence[DesiredRelease], head: Sequence[DesiredRelease]) -> list[Change]:
    """Releases added, changed (digest differs) or removed between two commits."""
    old = {(d.cluster, *d.key): d for d in base}
    new = {(d.cluster, *d.key): d for d in head}
    changes = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is None:
            kind = ChangeKind.ADDED
        elif after is None:
            kind = ChangeKind.REMOVED
        elif before.digest != after.digest or before.suspended != after.suspended:
            kind = ChangeKind.CHANGED
        else:
            continue
        changes.append(Change(kind, key[0], key[1], key[2], before, after))
    return changes


@dataclass(frozen=True)
class ObjectChange:
    """A cluster-scoped object modelsync renders beside the releases (a Karpenter NodePool
    or NodeClass) added, changed or removed between two commits, with its YAML diff."""

    kind: ChangeKind
    cluster: str
    object_kind: str
    name: str
    api_version: str
    diff: str

    @property
    def ref(self) -> str:
        return f"{self.object_kind}/{self.name}"


Manifests = Mapping[str, Sequence[Mapping[str, Any]]]


def compare_objects(base: Manifests, head: Manifests) -> list[ObjectChange]:
    """Objects of each cluster in ``head`` (its cluster file valid there) against ``base``.

    A cluster missing from ``head`` is left out: with its cluster file invalid or gone the
    controller applies nothing, so nothing it rendered changes.
    """
    changes = []
    for cluster in sorted(head):
        old = {(m["kind"], m["metadata"]["name"]): m for m in base.get(cluster, ())}
        new = {(m["kind"], m["metadata"]["name"]): m for m in head[cluster]}
        for key in sorted(old.keys() | new.keys()):
            before, after = old.get(key), new.get(key)
            if before == after:
                continue
            kind = (
                ChangeKind.ADDED
                if before is None
                else ChangeKind.REMOVED
                if after is None
                else ChangeKind.CHANGED
            )
            chosen = after or before
            assert chosen is not None
            text = unified(_yaml(before), _yaml(after), f"{key[0]}/{key[1]}.yaml")
            changes.append(
                ObjectChange(kind, cluster, key[0], key[1], str(chosen["apiVersion"]), text)
            )
    return changes


def _yaml(manifest: Mapping[str, Any] | None) -> str:
    return "" if manifest is None else yaml.safe_dump(plain(manifest), sort_keys=False)
