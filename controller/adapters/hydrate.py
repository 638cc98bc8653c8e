"""The hydrate target: rendered manifests per release in a directory, with a ledger.

The "rendered manifests" pattern (Argo CD's source hydrator, Kargo): instead of talking to
a cluster, each release becomes ``<out>/<cluster>/<namespace>/<release>.yaml``, which any
GitOps tool can apply. ``<out>/<cluster>/modelsync.ledger`` (JSON; a name no manifest tool
picks up) records what was rendered from which digest and commit, so an unchanged release
is never rendered again and the planner sees the directory as it would see Helm. The
cluster's Karpenter NodePools and NodeClasses, when it has auto-provisioned pools, go to
``<out>/<cluster>/_karpenter/`` (a name no namespace can take: namespaces are DNS labels).

Every file below ``<out>`` goes through ``confined``: a symlink inside the output
directory is never followed, and a ledger (perhaps restored from a branch others can push
to) is checked entry by entry before any of its paths is used.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import yaml

from controller.adapters.charts import ChartError, ChartSource
from controller.adapters.confined import Confined
from controller.adapters.gittree import GitError
from controller.core.claims import source_id
from controller.core.nodepools import manifest_name
from controller.core.planning import Action, ObservedRelease, Step
from controller.core.ports import TargetError
from controller.core.releases import (
    LABEL_CLUSTER,
    LABEL_DIGEST,
    LABEL_MANAGED_BY,
    LABEL_SOURCE,
    LABEL_WORKSPACE,
    MANAGER,
)
from controller.core.status import ActionResult, WorkloadState, WorkspaceStatus

LEDGER = "modelsync.ledger"
KARPENTER_DIR = "_karpenter"
#: Namespaces and release names as Kubernetes and Helm accept them (DNS-1123 labels).
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class Publisher(Protocol):
    """Where the rendered files go besides the directory: a Git branch (gitsource)."""

    def publish(self, branch: str, directory: Path, message: str) -> str | None: ...

    def restore(self, branch: str, directory: Path) -> bool: ...


class HydrateTarget:
    """Renders releases into files instead of installing them.

    With a ``branch`` and a ``publisher``, the cluster's directory is also committed to that
    branch after every pass that changed it, and an empty directory (a fresh volume) is
    first restored from the branch, ledger included.
    """

    kind = "hydrate"

    def __init__(
        self,
        out: Path,
        charts: ChartSource,
        cluster: str,
        *,
        branch: str | None = None,
        publisher: Publisher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = out / cluster
        self._files = Confined(out)
        self._charts = charts
        self._cluster = cluster
        self._clock = clock
        self._branch = branch if publisher is not None else None
        self._publisher = publisher
        self._ledger: dict[str, Any] | None = None
        self.changed = False
        self._unpublished = False
        self._log: list[str] = []  # what changed since the last branch commit

    @property
    def ledger_path(self) -> Path:
        return self.root / LEDGER

    def ledger(self) -> dict[str, Any]:
        if self._ledger is None:
            self._ledger = self._read_ledger()
        return self._ledger

    def _read_ledger(self) -> dict[str, Any]:
        name = f"{self._cluster}/{LEDGER}"
        try:
            data = self._files.read(name)
            if data is None and self._branch:
                assert self._publisher is not None
                self._publisher.restore(self._branch, self._files.directory(self._cluster))
                data = self._files.read(name)
        except GitError as e:
            raise TargetError(f"cannot restore {self.root} from {self._branch}: {e}") from e
        except OSError as e:
            raise TargetError(f"cannot read the ledger {self.ledger_path}: {e}") from e
        return (None if data is None else parse_ledger(data, self.ledger_path)) or {
            "apiVersion": "modelsync.dev/v1alpha1",
            "kind": "Ledger",
            "cluster": self._cluster,
            "commit": "",
            "releases": {},
            "workspaces": [],
        }

    def observe(self, namespaces: Sequence[str] = ()) -> list[ObservedRelease]:
        """Every release of the ledger (it only ever holds this cluster's)."""
        releases: Mapping[str, Any] = self.ledger()["releases"]
        return [
            ObservedRelease(
                name=entry["name"],
                namespace=entry["namespace"],
                revision=entry["revision"],
                status="deployed",
                chart=entry["chart"],
                chart_version=entry["chartVersion"],
                labels={
                    LABEL_MANAGED_BY: MANAGER,
                    LABEL_CLUSTER: self._cluster,
                    LABEL_WORKSPACE: entry["workspace"],
                    LABEL_DIGEST: entry["digest"],
                    LABEL_SOURCE: source_id(entry["source"]),
                },
                commit=entry.get("commit", ""),
            )
            for entry in releases.values()
        ]

    def apply(self, step: Step, commit: str) -> ActionResult:
        started = self._clock()
        releases: dict[str, Any] = self.ledger()["releases"]
        key = f"{step.namespace}/{step.name}"
        path = self.root / step.namespace / f"{step.name}.yaml"
        file = f"{self._cluster}/{step.namespace}/{step.name}.yaml"
        if step.action is Action.UNINSTALL:
            try:
                self._files.remove(file)
            except OSError as e:
                return self._failed(step, f"cannot remove {path}: {e}", started)
            releases.pop(key, None)
            self.changed = True
            self._log.append(f"uninstall {key}")
            return ActionResult(step, True, "manifests removed", seconds=self._clock() - started)
        if step.action not in (Action.INSTALL, Action.UPGRADE) or step.desired is None:
            return ActionResult(
                step, False, f"{step.action} does not apply to rendered files", retryable=False
            )
        release = step.desired
        try:
            manifests = self._charts.render(release)
        except ChartError as e:
            return ActionResult(
                step, False, str(e), retryable=False, seconds=self._clock() - started
            )
        data = manifests.encode()
        try:
            self._files.write(file, data)
        except OSError as e:
            return self._failed(step, f"cannot write {path}: {e}", started)
        revision = (releases.get(key, {}).get("revision", 0)) + 1
        releases[key] = {
            "name": release.name,
            "namespace": release.namespace,
            "workspace": release.workspace,
            "chart": release.chart,
            "chartVersion": release.chart_version,
            "digest": release.digest,
            "source": release.source,
            "revision": revision,
            "commit": commit,
            "file": path.relative_to(self.root).as_posix(),
            "sha256": hashlib.sha256(data).hexdigest(),
            "renderedAt": _iso(self._clock()),
        }
        self.changed = True
        self._log.append(f"{step.action} {key} ({release.chart} {release.chart_version})")
        return ActionResult(
            step,
            True,
            f"rendered {path.relative_to(self.root)}",
            revision=revision,
            seconds=self._clock() - started,
        )

    def _failed(self, step: Step, message: str, started: float) -> ActionResult:
        return ActionResult(step, False, message, retryable=False, seconds=self._clock() - started)

    def drifted(self, observed: Sequence[ObservedRelease]) -> set[tuple[str, str]]:
        """Releases whose rendered file was edited, removed or swapped for a link behind
        modelsync's back."""
        found = set()
        for entry in self.ledger()["releases"].values():
            try:
                data = self._files.read(f"{self._cluster}/{entry['file']}")
            except OSError:
                data = None
            current = "" if data is None else hashlib.sha256(data).hexdigest()
            if current != entry.get("sha256", current):
                found.add((entry["namespace"], entry["name"]))
        return found

    def workloads(self) -> Mapping[tuple[str, str], WorkloadState]:
        return {}  # rendered files have no pods to watch

    def node_pools(self, manifests: Sequence[Mapping[str, Any]]) -> list[str]:
        """One file per NodePool or NodeClass under ``_karpenter/``, rewritten only when its
        bytes change; files of pools cluster.yaml no longer has are removed, as the
        directory is the cluster's desired state. What changed is published with the pass."""
        directory = f"{self._cluster}/{KARPENTER_DIR}"
        wanted = {
            manifest_name(m): yaml.safe_dump(dict(m), sort_keys=False).encode() for m in manifests
        }
        changed = []
        try:
            for name, data in wanted.items():
                if self._files.read(f"{directory}/{name}") != data:
                    self._files.write(f"{directory}/{name}", data)
                    changed.append(f"write {KARPENTER_DIR}/{name}")
            if (self.root / KARPENTER_DIR).exists():
                listed = self._files.directory(directory)  # a real directory, not a link
                for stale in sorted(p.name for p in listed.glob("*.yaml")):
                    if stale not in wanted:
                        self._files.remove(f"{directory}/{stale}")
                        changed.append(f"remove {KARPENTER_DIR}/{stale}")
                if not any(listed.iterdir()):
                    listed.rmdir()
        except OSError as e:  # UnsafePathError (a link in the way) is one too
            raise TargetError(f"cannot write {self.root / KARPENTER_DIR}: {e}") from e
        if changed:
            self.changed = True
            self._log.extend(changed)
        return changed

    def record(self, commit: str, statuses: Sequence[WorkspaceStatus]) -> None:
        """Persist the ledger (the pass's commit, every Workspace's status) and, when
        manifests changed, commit the directory to the branch."""
        ledger = self.ledger()
        rows = [asdict(s) for s in statuses]
        changed, self.changed = self.changed, False
        if changed or ledger.get("commit") != commit or ledger.get("workspaces") != rows:
            ledger["commit"] = commit
            ledger["workspaces"] = rows
            ledger["syncedAt"] = _iso(self._clock())
            text = json.dumps(ledger, indent=1, sort_keys=True) + "\n"
            try:
                self._files.write(f"{self._cluster}/{LEDGER}", text.encode())
            except OSError as e:
                raise TargetError(f"cannot write the ledger {self.ledger_path}: {e}") from e
        if self._branch and (changed or self._unpublished):
            self._publish(commit)

    def _publish(self, commit: str) -> None:
        assert self._publisher is not None
        assert self._branch is not None
        lines, self._log = self._log, []
        message = f"modelsync: {self._cluster} at {commit[:12]}\n\n" + "\n".join(lines) + "\n"
        try:
            self._publisher.publish(self._branch, self._files.directory(self._cluster), message)
        except (GitError, OSError) as e:
            self._unpublished = True
            self._log = lines + self._log
            raise TargetError(f"cannot publish to branch {self._branch}: {e}") from e
        self._unpublished = False


def read_ledger(path: Path) -> dict[str, Any] | None:
    try:
        return parse_ledger(path.read_bytes(), path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise TargetError(f"cannot read the ledger {path}: {e}") from e


def parse_ledger(data: bytes, path: Path) -> dict[str, Any]:
    """A ledger's JSON, each release entry checked: its paths are used to write and delete."""
    try:
        ledger: dict[str, Any] = json.loads(data)
    except ValueError as e:
        raise TargetError(f"cannot read the ledger {path}: {e}") from e
    if (
        not isinstance(ledger, dict)
        or ledger.get("kind") != "Ledger"
        or not isinstance(ledger.get("releases"), dict)
    ):
        raise TargetError(f"{path} is not a modelsync ledger")
    for key, entry in ledger["releases"].items():
        if not _valid_entry(key, entry):
            raise TargetError(
                f"{path}: release {key!r} is not a namespace/name pair of DNS labels "
                "with its file at <namespace>/<name>.yaml; refusing to use this ledger"
            )
    return ledger


def _valid_entry(key: str, entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    namespace, name = entry.get("namespace"), entry.get("name")
    return (
        isinstance(namespace, str)
        and isinstance(name, str)
        and all(_DNS_LABEL.fullmatch(part) for part in (namespace, name))
        and key == f"{namespace}/{name}"
        and entry.get("file") == f"{namespace}/{name}.yaml"
    )


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
