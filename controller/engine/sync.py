"""One reconcile pass: fetch -> read -> validate -> desire -> observe -> plan -> apply -> record.

``Syncer`` holds what must survive between passes (the last commit, the validator's memo,
per-release backoff, the statuses) and runs passes on demand; ``modelsync sync`` runs one,
``modelsync run`` runs them in a loop. Safety rules live here, in one place:

- a failed fetch, an unreadable tree, a missing or invalid cluster file, or an unreadable
  target stops the pass before planning: the last good state stays, nothing is pruned;
- one Workspace's failure never stops the others' steps;
- a release that failed waits out an exponential backoff unless Git changes it again.

Steps are applied ``concurrency`` at a time (the hydrate target renders on every core: the
Helm SDK's native calls release the GIL); results, backoff and progress stay in plan order.
"""

from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from controller.adapters.charts import ChartSource
from controller.adapters.gitsource import GitError
from controller.core.capacity import Assignment, PoolUsage, assignments, cluster_usage
from controller.core.catalog import Catalog
from controller.core.chartpolicy import ChartPolicy
from controller.core.control import (
    Control,
    pending_resets,
    suspended_releases,
    with_suspensions,
)
from controller.core.documents import SourceFile
from controller.core.localpresets import presets_dir_for, with_local_presets
from controller.core.planning import (
    DriftPolicy,
    Plan,
    PlanPolicy,
    cluster_policy,
    plan,
)
from controller.core.ports import ObjectStore, Source, Target, TargetError
from controller.core.releases import DesiredRelease, desired_releases
from controller.core.schemas import SchemaSet
from controller.core.status import (
    ActionResult,
    Event,
    WorkspaceStatus,
    event_for,
    refreshed,
    summarize,
    validation_events,
)
from controller.core.statusobjects import sources
from controller.core.validation import ClusterResult, Validator
from controller.engine.applying import Progress, apply_plan
from controller.engine.backoff import Backoff
from controller.engine.passresult import DRIFT_MESSAGE, NOT_LEADING, PassResult
from controller.engine.provisioning import provision
from controller.engine.publishing import Publisher

log = logging.getLogger(__name__)

Key = tuple[str, str]


class Syncer:
    """Reconciles one cluster of one repository into one target."""

    def __init__(
        self,
        *,
        source: Source,
        target: Target,
        schemas: SchemaSet,
        catalog: Catalog,
        charts: ChartSource,
        cluster: str,
        path: str = "clusters",
        policy: PlanPolicy | None = None,
        chart_policy: ChartPolicy | None = None,
        full_resync: float = 600.0,
        concurrency: int = 1,
        clock: Callable[[], float] = time.time,
        objects: ObjectStore | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.source, self.target, self.charts = source, target, charts
        self.concurrency = concurrency
        self.cluster, self.policy, self.clock = cluster, policy or PlanPolicy(), clock
        self.directory = posixpath.join(path.strip("/"), cluster) if path.strip("/") else cluster
        self.presets_directory = presets_dir_for(path)
        self.schemas, self.catalog = schemas, catalog
        self.validator = Validator(schemas, catalog, memo=True, policy=chart_policy)
        self._presets_digest = ""
        self.backoff = Backoff()
        self.full_resync = full_resync
        self.commit = ""  # last commit a full pass completed on
        self.statuses: dict[tuple[str, str], WorkspaceStatus] = {}
        self.desired: list[DesiredRelease] = []
        # What the status page shows beside the statuses, from the same pass.
        self.pools: tuple[PoolUsage, ...] = ()
        self.assignments: Mapping[tuple[str, str], Assignment] = {}
        self._last_full = float("-inf")
        # The cluster file's maxPruneRatio at the last commit applied without a refused
        # prune: a commit cannot loosen the limit that guards it (prune_limit).
        self._prune_limit: float | None = None
        # The Workspaces' ModelWorkspace objects (helm target): status out, requests in.
        self.publisher = Publisher(objects, cluster) if objects is not None else None

    def run_pass(
        self,
        *,
        full: bool = False,
        dry_run: bool = False,
        progress: Progress | None = None,
        may_act: Callable[[], bool] = lambda: True,
    ) -> PassResult:
        """One pass. ``may_act`` is asked before every change to the target (the NodePools,
        each action, and recording the pass): when it says no (this replica lost the leader Lease),
        the pass stops there, unfinished, and the next leader's pass picks it up."""
        started = self.clock()
        timing: dict[str, float] = {}

        def stop(commit: str, *, error: str = "", skipped: str = "", tried: str = "") -> PassResult:
            if error:
                log.warning("pass stopped, keeping the last good state: %s", error)
            return PassResult(
                self.cluster,
                commit,
                self.clock() - started,
                skipped=skipped,
                error=error,
                statuses=tuple(self.statuses.values()),
                fetch_seconds=timing.get("fetch"),
                tried=tried,  # the commit the pass stopped on, once fetched
                failing=self._failing(self.desired),
            )

        try:
            commit = self.source.fetch().commit
        except GitError as e:
            timing["fetch"] = self.clock() - started
            return stop(self.commit, error=f"fetch failed: {e}")
        timing["fetch"] = self.clock() - started
        full = full or self.backoff.due(started) or started - self._last_full >= self.full_resync
        try:
            skip = "" if full else self._unchanged(commit)
        except GitError as e:
            return stop(
                self.commit,
                error=f"cannot diff {self.commit[:12]}..{commit[:12]}: {e}",
                tried=commit,
            )
        if skip:
            self.commit = commit
            self._refresh_readiness(may_act)
            return stop(commit, skipped=skip)
        try:
            files = self.source.read_tree(commit, self.directory)
            self._use_local_presets(self.source.read_tree(commit, self.presets_directory))
        except GitError as e:
            return stop(
                self.commit,
                error=f"cannot read {self.directory} at {commit[:12]}: {e}",
                tried=commit,
            )
        report = self.validator.validate(files, cluster=self.cluster).cluster(self.cluster)
        if report is None or report.cluster is None:
            why = "is missing" if report is None else "is invalid"
            return stop(
                self.commit,
                error=f"{self.directory}/cluster.yaml {why} at {commit[:12]}; nothing applied",
                tried=commit,
            )
        desired = desired_releases(report, self.charts.versions())
        try:  # requests made through the API (suspend, reset) count before planning
            desired, controls = self._requests(report, desired, dry_run)
        except TargetError as e:
            return stop(
                self.commit, error=f"cannot read the Workspaces' objects: {e}", tried=commit
            )
        proposed = report.cluster.target.get("maxPruneRatio")
        policy = cluster_policy(self.policy, report.cluster.target, self._prune_limit)
        try:
            observed = self.target.observe(report.cluster.namespaces)
            drifted = (
                self.target.drifted(observed)
                if full and policy.drift is not DriftPolicy.OFF
                else set()
            )
        except TargetError as e:
            return stop(
                self.commit, error=f"cannot read the {self.target.kind} target: {e}", tried=commit
            )
        the_plan = plan(
            desired,
            observed,
            cluster=self.cluster,
            policy=policy,
            claims=report.claims(),
            drifted=drifted,
        )
        if not dry_run and may_act():  # before the releases: their pods may need a NodePool
            provision(self.target, report.cluster, self.validator.catalog)
        results, waiting = (
            ([], [])
            if dry_run
            else apply_plan(
                the_plan.actions(),
                target=self.target,
                backoff=self.backoff,
                clock=self.clock,
                concurrency=self.concurrency,
                commit=commit,
                progress=progress,
                may_act=may_act,
            )
        )
        statuses = with_suspensions(
            summarize(
                report,
                the_plan,
                results,
                commit=commit,
                now=_iso(self.clock()),
                previous=self.statuses,
                workloads=self.target.workloads(),
                given_up={
                    d.key: self.backoff.attempts
                    for d in desired
                    if self.backoff.exhausted(d.key, d.digest)
                },
            ),
            controls,
        )
        events = [
            *(event_for(r) for r in results),
            *validation_events(report, self.statuses),
            *(
                Event(ns, name, "DriftDetected", DRIFT_MESSAGE, warning=True)
                for ns, name in sorted(drifted)
            ),
        ]
        error = ""
        if not dry_run:
            self.statuses = {s.key: s for s in statuses}
            self.pools, self.assignments = cluster_usage(report), assignments(report)
            error = self._finish(commit, statuses, the_plan, results, may_act)
        if not error and not dry_run:
            self.desired, self._last_full = desired, started
            if not the_plan.refused_prune:  # applied without needing a looser limit
                self._prune_limit = None if proposed is None else float(proposed)
        return PassResult(
            self.cluster,
            commit,
            self.clock() - started,
            error=error,
            report=report,
            plan=the_plan,
            results=tuple(results),
            waiting=tuple(waiting),
            statuses=tuple(statuses),
            events=tuple(events),
            fetch_seconds=timing["fetch"],
            drifted=tuple(f"{ns}/{name}" for ns, name in sorted(drifted)),
            tried=commit,
            failing=self._failing(desired),
        )

    def _finish(
        self,
        commit: str,
        statuses: list[WorkspaceStatus],
        the_plan: Plan,
        results: list[ActionResult],
        may_act: Callable[[], bool],
    ) -> str:
        """Record the pass (and its status on the Workspaces' objects) and mark ``commit``
        done, or say why the pass is unfinished."""
        if not may_act():
            done, planned = len(results), len(the_plan.actions())
            error = f"stopped after {done} of {planned} actions: {NOT_LEADING}"
            log.warning("%s", error)
            return error
        try:
            self.target.record(commit, statuses)
        except TargetError as e:  # not marked done: the next pass records again
            error = f"cannot record the pass: {e}"
            log.warning("%s", error)
            return error
        self.commit = commit
        if self.publisher is not None:
            self.publisher.publish(statuses, now=_iso(self.clock()), plan=the_plan, results=results)
        return ""

    def _failing(self, desired: list[DesiredRelease]) -> frozenset[tuple[str, str]]:
        return frozenset(d.key for d in desired if self.backoff.failing(d.key, d.digest))

    def _requests(
        self, report: ClusterResult, desired: list[DesiredRelease], dry_run: bool
    ) -> tuple[list[DesiredRelease], dict[Key, Control]]:
        """The desired releases with those suspended through the API marked, and the
        requests on the Workspaces' objects; a reset is carried out here. Raises
        TargetError: a pass must not go on without knowing what is suspended."""
        if self.publisher is None or report.cluster is None:
            return desired, {}
        controls = self.publisher.read_controls(report.cluster.namespaces)
        desired = suspended_releases(desired, controls)
        if dry_run:
            return desired, controls
        for key in pending_resets(controls):
            log.info("reset requested for %s/%s: retry count cleared", *key)
            self.backoff.reset(key)
            if key in self.statuses:
                self.statuses[key] = replace(self.statuses[key], failures=0, stalled=False)
        self.publisher.remember(sources(report, desired), controls, report.cluster.namespaces)
        return desired, controls

    def _refresh_readiness(self, may_act: Callable[[], bool]) -> None:
        """Between full passes, follow the pods of releases still coming up (and show it on
        their objects)."""
        if self.publisher is not None and may_act():
            self._refresh_workloads()
            self.publisher.publish(list(self.statuses.values()), now=_iso(self.clock()))
        else:
            self._refresh_workloads()

    def _refresh_workloads(self) -> None:
        if not any(s.reason == "Progressing" for s in self.statuses.values()):
            return
        try:
            workloads = self.target.workloads()
        except TargetError as e:
            log.warning("cannot read workload readiness: %s", e)
            return
        rows = refreshed(list(self.statuses.values()), workloads, _iso(self.clock()))
        self.statuses = {s.key: s for s in rows}

    def _use_local_presets(self, files: list[SourceFile]) -> None:
        """Merge the repo's own presets/ into the catalog; a new set starts a fresh memo."""
        local = with_local_presets(self.catalog, files, self.schemas)
        if local.digest == self._presets_digest:
            return
        for finding in local.findings:
            log.warning("%s:%s: %s: %s", finding.file, finding.line, finding.field, finding.message)
        self.validator = Validator(
            self.schemas, local.catalog, memo=True, policy=self.validator.policy
        )
        self._presets_digest = local.digest

    def _unchanged(self, commit: str) -> str:
        """Why a pass on ``commit`` can be skipped without reading the tree, or ``""``."""
        if self.publisher is not None and self.publisher.failed:
            return ""  # the objects' status is behind: write it again
        if commit == self.commit:
            return "commit unchanged"
        if self.commit:
            for directory in (self.directory, self.presets_directory):
                changed = self.source.changed_paths(self.commit, commit, directory)
                if changed is None or changed:
                    return ""
            return f"no change under {self.directory}/"
        return ""


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


__all__ = ["NOT_LEADING", "PassResult", "Syncer"]
