"""The planner: desired vs observed releases -> the actions of one reconcile pass.

A pure state machine in the manner of Flux's helm-controller: ``release_state`` says what
a release is (Absent, InSync, OutOfSync, Failed, Stuck, Orphaned, ...), ``next_action``
maps that to install / upgrade / rollback / uninstall / nothing, and ``plan`` adds the
safety rules around pruning. Only releases labelled as managed by modelsync for this
cluster are ever touched; the caller filters out everything else but name clashes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from controller.core.claims import NO_CLAIMS, Claims
from controller.core.releases import (
    LABEL_CLUSTER,
    LABEL_DIGEST,
    LABEL_MANAGED_BY,
    LABEL_SOURCE,
    LABEL_WORKSPACE,
    MANAGER,
    DesiredRelease,
)


class ReleaseState(StrEnum):
    ABSENT = "Absent"  # desired, not installed
    IN_SYNC = "InSync"  # deployed with the desired digest
    DRIFTED = "Drifted"  # deployed with the desired digest, live objects changed since
    OUT_OF_SYNC = "OutOfSync"  # deployed, digest differs
    FAILED = "Failed"  # last action failed
    STUCK = "Stuck"  # left pending-* or uninstalling by an interrupted action
    SUSPENDED = "Suspended"  # modelsync.dev/suspend: "true"
    ORPHANED = "Orphaned"  # managed, no longer desired
    HELD = "Held"  # managed, not desired, and an invalid file may define it: keep it
    FOREIGN = "Foreign"  # same name, not managed by modelsync: never touched


class Action(StrEnum):
    NONE = "none"
    INSTALL = "install"
    UPGRADE = "upgrade"
    ROLLBACK = "rollback"
    UNINSTALL = "uninstall"
    REINSTALL = "reinstall"  # uninstall what an interrupted action left, then install


class FailurePolicy(StrEnum):
    """What to do with a release whose last upgrade failed and Git has not changed since."""

    ROLLBACK = "rollback"
    UNINSTALL = "uninstall"
    RETRY = "retry"


@dataclass(frozen=True)
class ObservedRelease:
    """A release as the target reports it (Helm storage, or the hydrate ledger)."""

    name: str
    namespace: str
    revision: int
    status: str  # Helm's: deployed, failed, pending-install, pending-upgrade, ...
    labels: Mapping[str, str] = field(default_factory=dict)
    chart: str = ""
    chart_version: str = ""
    previous_deployed: int | None = None  # the newest earlier revision that was deployed
    commit: str = ""  # the Git commit the current revision was applied from, where known

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def digest(self) -> str:
        return self.labels.get(LABEL_DIGEST, "")

    def managed_for(self, cluster: str) -> bool:
        return (
            self.labels.get(LABEL_MANAGED_BY) == MANAGER
            and self.labels.get(LABEL_CLUSTER) == cluster
        )


class DriftPolicy(StrEnum):
    OFF = "off"
    WARN = "warn"  # report drift (event, metric), leave the objects alone
    CORRECT = "correct"  # re-apply the release


@dataclass(frozen=True)
class PlanPolicy:
    prune: bool = True
    max_prune_ratio: float = 0.5
    force: bool = False
    on_failure: FailurePolicy = FailurePolicy.ROLLBACK
    drift: DriftPolicy = DriftPolicy.WARN


def prune_limit(configured: float, proposed: float | None, in_force: float | None) -> float:
    """The share of releases one pass may prune: the strictest of the three limits.

    ``configured`` is the controller's own (set at install by the platform team);
    ``proposed`` is the cluster file's at the commit being applied; ``in_force`` is the
    cluster file's at the last commit applied without a refused prune. A commit can
    tighten the limit at once but never loosen the limit that guards it, and Git can never
    loosen it past the controller's.
    """
    return min(r for r in (configured, proposed, in_force) if r is not None)


@dataclass(frozen=True)
class Step:
    action: Action
    state: ReleaseState
    namespace: str
    name: str
    reason: str
    desired: DesiredRelease | None = None
    observed: ObservedRelease | None = None

    @property
    def workspace(self) -> str:
        if self.desired is not None:
            return self.desired.workspace
        return self.observed.labels.get(LABEL_WORKSPACE, self.name) if self.observed else self.name


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    refused_prune: str = ""

    def actions(self) -> list[Step]:
        return [s for s in self.steps if s.action is not Action.NONE]


def release_state(
    desired: DesiredRelease | None,
    observed: ObservedRelease | None,
    *,
    cluster: str,
    claims: Claims = NO_CLAIMS,
    drifted: bool = False,
) -> ReleaseState:
    """What a release is, from what Git wants and what the target holds."""
    if observed is not None and not observed.managed_for(cluster):
        return ReleaseState.FOREIGN
    if desired is None:
        assert observed is not None
        return ReleaseState.HELD if _holder(observed, claims) else ReleaseState.ORPHANED
    if desired.suspended:
        return ReleaseState.SUSPENDED
    if observed is None:
        return ReleaseState.ABSENT
    if observed.status.startswith("pending") or observed.status == "uninstalling":
        return ReleaseState.STUCK
    if observed.status == "failed":
        return ReleaseState.FAILED
    if observed.status == "deployed" and observed.digest == desired.digest:
        return ReleaseState.DRIFTED if drifted else ReleaseState.IN_SYNC
    return ReleaseState.OUT_OF_SYNC


_FIXED = {
    ReleaseState.ABSENT: (Action.INSTALL, "not installed"),
    ReleaseState.OUT_OF_SYNC: (Action.UPGRADE, "chart or values changed"),
    ReleaseState.IN_SYNC: (Action.NONE, "in sync"),
    ReleaseState.SUSPENDED: (Action.NONE, "suspended"),
    ReleaseState.FOREIGN: (
        Action.NONE,
        "a release of this name exists and is not managed by modelsync",
    ),
}


def next_action(
    state: ReleaseState,
    desired: DesiredRelease | None,
    observed: ObservedRelease | None,
    policy: PlanPolicy,
) -> tuple[Action, str]:
    """The action for a state, and why."""
    if state in _FIXED:
        return _FIXED[state]
    if state is ReleaseState.HELD:
        return Action.NONE, "a file that may define its Workspace is invalid; keeping it"
    if state is ReleaseState.DRIFTED:
        if policy.drift is DriftPolicy.CORRECT:
            return Action.UPGRADE, "live objects drifted from the release; re-applying"
        return Action.NONE, "live objects drifted from the release (drift: warn)"
    if state is ReleaseState.ORPHANED:
        if not policy.prune:
            return Action.NONE, "no longer in Git; pruning is off"
        return Action.UNINSTALL, "no longer in Git"
    assert observed is not None
    if state is ReleaseState.STUCK:
        return _unstick(observed)
    assert desired is not None  # FAILED
    if observed.digest != desired.digest:
        return Action.UPGRADE, "last action failed; Git has changed since"
    return _remediate(observed, policy)


def _holder(observed: ObservedRelease, claims: Claims) -> str:
    labels = observed.labels
    return claims.holder(
        observed.namespace, labels.get(LABEL_WORKSPACE, ""), labels.get(LABEL_SOURCE, "")
    )


def _unstick(observed: ObservedRelease) -> tuple[Action, str]:
    """The way out for a release an interrupted action left locked, still wanted by Git.

    Only the leader acts and it has no call in flight on this release (the target refuses
    a step while one overruns), so the lock is stale. As Flux's helm-controller does, the
    release is then remediated, never removed and forgotten: an interrupted install or
    uninstall (Helm refuses to upgrade either: no deployed revision) is uninstalled and
    installed again in the same step; an interrupted upgrade or rollback goes back to the
    last deployed revision.
    """
    if observed.status == "uninstalling":
        return Action.REINSTALL, "left uninstalling by an interrupted uninstall; Git wants it"
    if observed.status == "pending-install" or observed.previous_deployed is None:
        return Action.REINSTALL, f"left {observed.status} by an interrupted install"
    return Action.ROLLBACK, f"left {observed.status} by an interrupted action"


def _remediate(observed: ObservedRelease, policy: PlanPolicy) -> tuple[Action, str]:
    """A failed release Git still wants unchanged: only the ``uninstall`` policy removes it.

    A failed first install is upgraded in place (Helm upgrades a release whose only
    revision failed), never uninstalled by default: its objects may be serving. The fault
    suite found the case: a leader paused mid-install and resumed after the standby had
    installed the release records its own cancelled install as failed over the standby's
    deployed one; uninstalling that "failed" release took down a running model server.
    """
    if policy.on_failure is FailurePolicy.UNINSTALL:
        return Action.UNINSTALL, "last action failed; uninstalling to start clean"
    if policy.on_failure is FailurePolicy.RETRY:
        return Action.UPGRADE, "last upgrade failed; retrying"
    if observed.previous_deployed is not None:
        return Action.ROLLBACK, f"last upgrade failed; rolling back to {observed.previous_deployed}"
    if observed.revision == 1:
        return Action.UPGRADE, "install failed; applying it again in place"
    return Action.UPGRADE, "last upgrade failed and no deployed revision to roll back to"


def plan(
    desired: Sequence[DesiredRelease],
    observed: Sequence[ObservedRelease],
    *,
    cluster: str,
    policy: PlanPolicy = PlanPolicy(),
    claims: Claims = NO_CLAIMS,
    drifted: Collection[tuple[str, str]] = (),
) -> Plan:
    """Steps for every release either side knows, in a stable order.

    ``observed`` holds this cluster's managed releases plus any release that shares a name
    with a desired one. ``claims`` say which releases the cluster's invalid files may still
    define: those are kept (Held), never pruned. ``drifted`` are releases whose live
    objects no longer match what they applied.
    """
    wanted = {d.key: d for d in desired}
    have = {o.key: o for o in observed}
    steps = []
    for key in sorted(wanted.keys() | have.keys()):
        d, o = wanted.get(key), have.get(key)
        if d is None and o is not None and not o.managed_for(cluster):
            continue  # another cluster's or someone else's release that Git never named
        state = release_state(d, o, cluster=cluster, claims=claims, drifted=key in drifted)
        action, reason = next_action(state, d, o, policy)
        if state is ReleaseState.HELD and o is not None:
            reason = _holder(o, claims)
        steps.append(Step(action, state, key[0], key[1], reason, d, o))
    return _limit_prunes(steps, observed, cluster, policy)


def _limit_prunes(
    steps: list[Step], observed: Sequence[ObservedRelease], cluster: str, policy: PlanPolicy
) -> Plan:
    """Refuse a pass that would uninstall more than the allowed share of releases.

    A single prune is always allowed; otherwise deleting one Workspace out of two would need
    ``--force``. The refusal holds back the prunes only; installs and upgrades go ahead.
    """
    prunes = [s for s in steps if s.state is ReleaseState.ORPHANED and s.action is Action.UNINSTALL]
    managed = sum(1 for o in observed if o.managed_for(cluster))
    allowed = max(1, int(policy.max_prune_ratio * managed))
    if policy.force or len(prunes) <= allowed:
        return Plan(tuple(steps))
    message = (
        f"refusing to uninstall {len(prunes)} of {managed} releases in one pass (more "
        f"than {policy.max_prune_ratio:.0%}); check the repository, or run with --force"
    )
    held = [
        Step(Action.NONE, s.state, s.namespace, s.name, message, s.desired, s.observed)
        if s in prunes
        else s
        for s in steps
    ]
    return Plan(tuple(held), refused_prune=message)


def cluster_policy(
    base: PlanPolicy, target: Mapping[str, Any], prune_in_force: float | None = None
) -> PlanPolicy:
    """The cluster file's ``spec.target`` (reviewed in Git) over the controller's defaults.

    ``maxPruneRatio`` can only tighten the controller's own limit, and a commit cannot
    loosen the one in force (``prune_limit``). ``--force`` and ``--no-prune`` of a one-off
    run still win: they are a person's decision for that run.
    """
    proposed = target.get("maxPruneRatio")
    return replace(
        base,
        max_prune_ratio=prune_limit(
            base.max_prune_ratio, None if proposed is None else float(proposed), prune_in_force
        ),
        drift=DriftPolicy(target.get("drift", base.drift)),
        on_failure=FailurePolicy(target.get("onUpgradeFailure", base.on_failure)),
    )
