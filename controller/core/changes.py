"""What a change to the clusters repo does to the releases: added, changed, removed.

The pure half of ``modelsync diff``: two sets of desired releases (base and head commit)
in, the differences out, each changed release with a unified diff of its values. Manifest
diffs need rendering and are added by the caller.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

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
