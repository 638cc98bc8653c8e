"""The helm target: Workspaces' releases installed into the cluster with the Helm v4 SDK.

Adapter layer, the right end of a pass (... -> plan -> target). It implements the
``Target`` protocol (core/ports.py) for ``engine/sync.py``:

- ``observe(namespaces)``: every release in those namespaces, any state (one storage list
  per namespace), Helm's reserved labels stripped, the commit it was applied from read
  from the ``modelsync.dev/commit`` release label (set on install and upgrade; a rollback
  carries the commit of the revision it restores); for this cluster's failed or pending
  releases, the newest earlier revision that was deployed (from their history), which a
  rollback returns to. A Helm or API error, or no answer within the target's deadline,
  raises ``TargetError``: the pass stops and nothing is pruned.
- ``apply(step, commit)``: install, upgrade, rollback, uninstall or reinstall (uninstall
  what an interrupted action left, then install) one release, never
  waiting for readiness (models take many minutes to load; ``workloads()`` reports it
  later). Values are checked against the chart's schema first; each call runs under the
  target's deadline (``helmcalls.py``). A failure is an ``ActionResult``, never raised.
- ``drifted(observed)``: deployed releases whose live objects no longer hold what their
  manifest set (manifests cached by revision; see ``liveobjects.py``). Correcting drift
  (an upgrade of a ``Drifted`` release) first takes the drifted objects' fields back for
  Helm's field manager, which Helm itself would refuse on a conflict.
- ``workloads()``: the state of each release's Deployment or Job (core/workloads.py).
- ``regarding(namespace, release)``: the workload object an Event about the release
  should point at, as last seen (``kubeevents.EventRecorder``'s resolver).
- ``node_pools(manifests)``: server-side apply the cluster's Karpenter NodePools and
  NodeClasses (``provisioning.py``).

    target = HelmTarget(KubeConnection.detect(), charts, "prod", timeout=120)
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import helm_python as helm

from controller.adapters.charts import ChartError, ChartSource
from controller.adapters.helmcalls import (
    MAX_HELM_MESSAGE,
    DeadlineExceededError,
    Deadlines,
    failure,
)
from controller.adapters.kube import (
    JSON,
    KubeConnection,
    KubeError,
    KubeUnavailableError,
    ObjectRef,
    truncate,
)
from controller.adapters.liveobjects import LiveObjects, ObjectKey, key_of, manifest_objects
from controller.adapters.provisioning import apply_node_pools
from controller.core.planning import Action, ObservedRelease, ReleaseState, Step
from controller.core.ports import TargetError
from controller.core.status import ActionResult, WorkloadState, WorkspaceStatus
from controller.core.workloads import workload_state

log = logging.getLogger(__name__)

#: Labels Helm keeps on every release record; they are not the release's own labels.
RESERVED_LABELS = frozenset({"name", "owner", "status", "version", "createdAt", "modifiedAt"})
#: The Git commit a revision was applied from (a rollback keeps the old revision's).
LABEL_COMMIT = "modelsync.dev/commit"
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")
_WAS_DEPLOYED = ("deployed", "superseded")
_APPLIES = (Action.INSTALL, Action.UPGRADE, Action.REINSTALL)  # steps that render the chart

Key = tuple[str, str]
T = TypeVar("T")


class _RefusedError(Exception):
    """The step cannot be carried out as planned; trying again will not help."""


class HelmTarget:
    """Releases in a cluster, through one Helm config per namespace."""

    kind = "helm"

    def __init__(
        self,
        connection: KubeConnection,
        charts: ChartSource,
        cluster: str,
        *,
        timeout: float = 120.0,
        grace: float = 5.0,
        max_history: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connection = connection
        self._charts = charts
        self._cluster = cluster
        self._max_history = max_history
        self._clock = clock
        self._deadlines = Deadlines(timeout, grace=grace)
        self._manifests: dict[Key, tuple[int, str]] = {}
        self._objects: dict[Key, tuple[int, list[JSON]]] = {}  # manifests, parsed
        self._refs: dict[Key, ObjectRef] = {}
        self._namespaces: set[str] = set()  # where this cluster's releases are
        self._live: LiveObjects | None = None

    @property
    def timeout(self) -> float:
        return self._deadlines.timeout

    # --- reading ------------------------------------------------------------------

    def observe(self, namespaces: Sequence[str]) -> list[ObservedRelease]:
        found: dict[Key, ObservedRelease] = {}
        for namespace in sorted(set(namespaces)):
            config = self.connection.helm_config(namespace)
            what = f"list releases in {namespace}"
            try:
                listed = self._read(what, (namespace, ""), partial(config.list, all_states=True))
            except helm.HelmError as e:
                raise TargetError(f"cannot {what}: {failure(e)[0]}") from e
            for item in listed:
                release = self._observed_release(config, namespace, item)
                found[release.key] = release
        self._namespaces = {o.namespace for o in found.values() if o.managed_for(self._cluster)}
        return list(found.values())

    def _observed_release(
        self, config: helm.Config, namespace: str, item: Mapping[str, Any]
    ) -> ObservedRelease:
        labels = {
            str(k): str(v)
            for k, v in (item.get("labels") or {}).items()
            if k not in RESERVED_LABELS
        }
        release = ObservedRelease(
            name=str(item["name"]),
            namespace=str(item.get("namespace") or namespace),
            revision=int(item.get("revision") or 0),
            status=str(item.get("status") or ""),
            labels=labels,
            chart=str(item.get("chart_name") or ""),
            chart_version=str(item.get("chart_version") or ""),
            commit=labels.get(LABEL_COMMIT, ""),
        )
        if not release.managed_for(self._cluster) or release.status == "deployed":
            return release
        if release.status != "failed" and not release.status.startswith("pending"):
            return release
        what = f"read the history of {namespace}/{release.name}"
        try:
            history = self._read(what, release.key, lambda: config.history(release.name))
        except helm.HelmError as e:
            raise TargetError(f"cannot {what}: {failure(e)[0]}") from e
        earlier = [
            int(h["revision"])
            for h in history
            if h.get("status") in _WAS_DEPLOYED and int(h["revision"]) < release.revision
        ]
        return replace(release, previous_deployed=max(earlier) if earlier else None)

    def drifted(self, observed: Sequence[ObservedRelease]) -> set[Key]:
        """Deployed releases of this cluster whose live objects differ from their manifest.

        The objects of all releases are read together (one list per kind and namespace
        where there are several). A release whose manifest cannot be read is left out, as
        are all when the objects cannot be read (logged); an unreachable API server raises
        TargetError.
        """
        owners: dict[ObjectKey, Key] = {}
        objects: list[JSON] = []
        for release in observed:
            if not release.managed_for(self._cluster) or release.status != "deployed":
                continue
            try:
                released = self._released_objects(release)
            except helm.HelmError as e:
                log.warning("drift of %s/%s unknown: %s", *release.key, failure(e)[0])
                continue
            for obj in released:
                owners[key_of(obj)] = release.key
                objects.append(obj)
        try:
            drift = self._live_objects().drift(objects)
        except KubeUnavailableError as e:
            raise TargetError(f"cannot read live objects: {e}") from e
        except KubeError as e:
            log.warning("drift unknown: %s", e)
            return set()
        for key, paths in sorted(drift.items()):
            namespace, owner = owners[key]
            log.info(
                "drift in %s/%s: %s %s: %s", namespace, owner, key[1], key[3], ", ".join(paths)
            )
        return {owners[key] for key in drift}

    def _released_objects(self, release: ObservedRelease) -> list[JSON]:
        cached = self._objects.get(release.key)
        if cached is None or cached[0] != release.revision:
            cached = (
                release.revision,
                manifest_objects(self._manifest(release), release.namespace),
            )
            self._objects[release.key] = cached
        return cached[1]

    def _manifest(self, release: ObservedRelease) -> str:
        """The release's manifest: as the last install or upgrade returned it, else from
        its record (once per revision: the parsed objects are kept instead)."""
        applied = self._manifests.pop(release.key, None)
        if applied is not None and applied[0] == release.revision:
            return applied[1]
        config = self.connection.helm_config(release.namespace)
        what = f"read the manifest of {release.namespace}/{release.name}"
        read = self._read(
            what, release.key, lambda: config.get_all(release.name, revision=release.revision)
        )
        return str(read["summary"].get("manifest") or "")

    def _read(self, what: str, key: Key, work: Callable[[], T]) -> T:
        """A read of Helm's release storage under the target's deadline, as its actions
        are: client-go sets no timeout of its own, so an API server that accepts the
        request and never answers would otherwise hold the pass (and the Lease with it)
        for ever. It fails the pass with TargetError instead (nothing is pruned)."""
        if self._deadlines.busy(key):
            raise TargetError(f"cannot {what}: an earlier read is still waiting for an answer")
        try:
            return self._deadlines.call(key, lambda _: work(), cancellable=False)
        except DeadlineExceededError as e:
            raise TargetError(f"cannot {what}: {e}") from e

    def _live_objects(self) -> LiveObjects:
        if self._live is None:
            self._live = LiveObjects(self.connection.client())
        return self._live

    def workloads(self) -> Mapping[Key, WorkloadState]:
        """The Deployment or Job of each release of this cluster, in the namespaces seen."""
        states: dict[Key, WorkloadState] = {}
        refs: dict[Key, ObjectRef] = {}
        for namespace in sorted(self._namespaces):
            try:
                by_release = self._live_objects().workloads(namespace, self._cluster)
            except KubeError as e:
                log.warning("cannot read the workloads in %s: %s", namespace, e)
                continue
            for release, items in by_release.items():
                newest = max(items, key=_created)
                state = workload_state(newest)
                if state is not None:
                    states[(namespace, release)] = state
                    refs[(namespace, release)] = ObjectRef.of(newest)
        self._refs = refs
        return states

    def regarding(self, namespace: str, release: str) -> ObjectRef | None:
        """The release's Deployment or Job as last seen by ``workloads()``, if any."""
        return self._refs.get((namespace, release))

    def record(self, commit: str, statuses: Sequence[WorkspaceStatus]) -> None:
        """Nothing to persist: the release records in the cluster are the state."""

    def node_pools(self, manifests: Sequence[Mapping[str, Any]]) -> list[str]:
        """Apply the NodePools and NodeClasses; NodePools cluster.yaml dropped are logged
        and left in place (deleting one terminates its nodes). A cluster without
        auto-provisioned pools costs no request (and needs no Karpenter installed)."""
        if not manifests:
            return []
        try:
            done = apply_node_pools(
                self.connection.client(), self._cluster, manifests, timeout=self.timeout
            )
        except KubeError as e:
            raise TargetError(f"cannot apply the Karpenter NodePools: {e}") from e
        for orphan in done.orphaned:
            log.warning(
                "%s is no longer in cluster.yaml; delete it by hand when its nodes are idle", orphan
            )
        return [f"apply {name}" for name in done.applied]

    # --- acting -------------------------------------------------------------------

    def apply(self, step: Step, commit: str) -> ActionResult:
        started = self._clock()

        def result(ok: bool, message: str, **more: Any) -> ActionResult:
            return ActionResult(step, ok, message, seconds=self._clock() - started, **more)

        key = (step.namespace, step.name)
        if self._deadlines.busy(key):
            return result(False, "an earlier Helm action on this release is still running")
        try:
            message, revision = self._act(step, commit)
        except (ChartError, _RefusedError) as e:
            return result(False, truncate(str(e), MAX_HELM_MESSAGE), retryable=False)
        except DeadlineExceededError as e:
            return result(False, f"{step.action} {e}")
        except helm.HelmError as e:
            message, retryable = failure(e)
            return result(False, message, retryable=retryable)
        except KubeError as e:
            return result(False, f"{step.action}: {e}", retryable=e.retryable)
        except TargetError as e:  # a read of release storage before the action failed
            return result(False, f"{step.action}: {e}")
        return result(True, message, revision=revision)

    def _act(self, step: Step, commit: str) -> tuple[str, int | None]:
        key = (step.namespace, step.name)
        config = self.connection.helm_config(step.namespace)
        description = f"modelsync {step.action} at {commit[:12]}: {step.reason}"[:200]
        if step.action is Action.UNINSTALL:
            self._deadlines.call(
                key,
                lambda _: config.uninstall(
                    step.name, ignore_not_found=True, description=description
                ),
                cancellable=False,
            )
            self._manifests.pop(key, None)
            self._objects.pop(key, None)
            return "uninstalled", None
        if step.action is Action.ROLLBACK:
            observed = step.observed
            if observed is None or observed.previous_deployed is None:
                raise _RefusedError("no deployed revision to roll back to")
            to = observed.previous_deployed
            self._deadlines.call(
                key, lambda _: config.rollback(step.name, version=to), cancellable=False
            )
            return f"rolled back to revision {to}", observed.revision + 1
        if step.action not in _APPLIES or step.desired is None:
            raise _RefusedError(f"nothing to {step.action} for {step.namespace}/{step.name}")
        desired = step.desired
        values: dict[str, Any] = json.loads(json.dumps(desired.values))
        # Rendered offline first: the values schema and the chart policy are checked before
        # anything reaches the cluster (a refused release keeps what it runs now).
        self._charts.render_files(desired)
        path = self._charts.path(desired.chart, desired.chart_version, desired.repository)
        if step.state is ReleaseState.DRIFTED and step.observed is not None:
            self._live_objects().reclaim(
                self._released_objects(step.observed), helm_field_manager()
            )
        labels = desired.labels | ({LABEL_COMMIT: commit} if _LABEL_VALUE.fullmatch(commit) else {})
        if step.action is Action.REINSTALL:  # Helm installs no name it still holds
            self._deadlines.call(
                key,
                lambda _: config.uninstall(
                    step.name, ignore_not_found=True, description=description
                ),
                cancellable=False,
            )
        if step.action in (Action.INSTALL, Action.REINSTALL):
            done = self._deadlines.call(
                key,
                lambda context: config.install(
                    path, step.name, values,
                    context=context, labels=labels, description=description,
                ),
            )  # fmt: skip
            verb = "reinstalled" if step.action is Action.REINSTALL else "installed"
        else:
            done = self._deadlines.call(
                key,
                lambda context: config.upgrade(
                    path, step.name, values, context=context, labels=labels,
                    description=description, max_history=self._max_history,
                ),
            )  # fmt: skip
            verb = "upgraded"
        revision = int(done.get("revision") or 0)
        self._manifests[key] = (revision, str(done.get("manifest") or ""))
        self._namespaces.add(step.namespace)
        chart_id = f"{desired.chart} {desired.chart_version}"
        return f"{verb} {chart_id} (revision {revision})", revision

    def close(self) -> None:
        self.connection.close()


def helm_field_manager() -> str:
    """The field manager Helm applies as: the base name of the process's argv[0] (Helm's
    ``filepath.Base(os.Args[0])``; helm_python sets no other), e.g. ``python``."""
    return Path(sys.orig_argv[0]).name


def _created(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("creationTimestamp") or "")
