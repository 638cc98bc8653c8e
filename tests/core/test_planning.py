"""The planner as a table: (desired, observed) -> state -> action, plus the prune safety rules."""

from __future__ import annotations

import dataclasses

import pytest

from controller.core.claims import Claim, claims_of, source_id
from controller.core.planning import (
    Action,
    DriftPolicy,
    FailurePolicy,
    ObservedRelease,
    PlanPolicy,
    ReleaseState,
    plan,
    prune_limit,
)
from controller.core.releases import DesiredRelease, release_name

CLUSTER = "prod"


def desired(name: str = "phi", digest: str = "d1", *, suspended: bool = False) -> DesiredRelease:
    return DesiredRelease(
        name=name,
        namespace="default",
        cluster=CLUSTER,
        workspace=name,
        chart="workspace-inference",
        chart_version="0.1.0",
        values={},
        digest=digest,
        source=f"clusters/prod/{name}.yaml",
        suspended=suspended,
    )


def observed(
    name: str = "phi",
    digest: str = "d1",
    status: str = "deployed",
    *,
    revision: int = 2,
    previous: int | None = 1,
    cluster: str = CLUSTER,
    managed: bool = True,
) -> ObservedRelease:
    labels = {
        "modelsync.dev/workspace": name,
        "modelsync.dev/digest": digest,
        "modelsync.dev/source": source_id(f"clusters/prod/{name}.yaml"),
    }
    if managed:
        labels |= {"modelsync.dev/managed-by": "modelsync", "modelsync.dev/cluster": cluster}
    return ObservedRelease(
        name=name,
        namespace="default",
        revision=revision,
        status=status,
        labels=labels,
        previous_deployed=previous,
    )


CASES = [
    # (id, desired, observed, policy, state, action)
    ("absent", desired(), None, PlanPolicy(), ReleaseState.ABSENT, Action.INSTALL),
    ("in sync", desired(), observed(), PlanPolicy(), ReleaseState.IN_SYNC, Action.NONE),
    (
        "values changed",
        desired(digest="d2"),
        observed(),
        PlanPolicy(),
        ReleaseState.OUT_OF_SYNC,
        Action.UPGRADE,
    ),
    (
        "suspended and absent",
        desired(suspended=True),
        None,
        PlanPolicy(),
        ReleaseState.SUSPENDED,
        Action.NONE,
    ),
    (
        "suspended and changed",
        desired(digest="d2", suspended=True),
        observed(),
        PlanPolicy(),
        ReleaseState.SUSPENDED,
        Action.NONE,
    ),
    (
        "failed, Git changed since",
        desired(digest="d2"),
        observed(status="failed"),
        PlanPolicy(),
        ReleaseState.FAILED,
        Action.UPGRADE,
    ),
    (
        "failed, rollback policy",
        desired(),
        observed(status="failed"),
        PlanPolicy(),
        ReleaseState.FAILED,
        Action.ROLLBACK,
    ),
    (
        "failed, uninstall policy",
        desired(),
        observed(status="failed"),
        PlanPolicy(on_failure=FailurePolicy.UNINSTALL),
        ReleaseState.FAILED,
        Action.UNINSTALL,
    ),
    (
        "failed, retry policy",
        desired(),
        observed(status="failed"),
        PlanPolicy(on_failure=FailurePolicy.RETRY),
        ReleaseState.FAILED,
        Action.UPGRADE,
    ),
    (
        "failed first install: applied again in place, its objects may be serving",
        desired(),
        observed(status="failed", revision=1, previous=None),
        PlanPolicy(),
        ReleaseState.FAILED,
        Action.UPGRADE,
    ),
    (
        "failed first install, uninstall policy",
        desired(),
        observed(status="failed", revision=1, previous=None),
        PlanPolicy(on_failure=FailurePolicy.UNINSTALL),
        ReleaseState.FAILED,
        Action.UNINSTALL,
    ),
    (
        "stuck pending-install",
        desired(),
        observed(status="pending-install", previous=None),
        PlanPolicy(),
        ReleaseState.STUCK,
        Action.REINSTALL,
    ),
    (
        "stuck pending-upgrade, never deployed",
        desired(),
        observed(status="pending-upgrade", previous=None),
        PlanPolicy(),
        ReleaseState.STUCK,
        Action.REINSTALL,
    ),
    (
        "stuck uninstalling, back in Git",
        desired(),
        observed(status="uninstalling", previous=None),
        PlanPolicy(),
        ReleaseState.STUCK,
        Action.REINSTALL,
    ),
    (
        "stuck uninstalling, gone from Git",
        None,
        observed(status="uninstalling", previous=None),
        PlanPolicy(),
        ReleaseState.ORPHANED,
        Action.UNINSTALL,
    ),
    (
        "stuck pending-upgrade",
        desired(),
        observed(status="pending-upgrade"),
        PlanPolicy(),
        ReleaseState.STUCK,
        Action.ROLLBACK,
    ),
    ("removed from Git", None, observed(), PlanPolicy(), ReleaseState.ORPHANED, Action.UNINSTALL),
    (
        "removed, pruning off",
        None,
        observed(),
        PlanPolicy(prune=False),
        ReleaseState.ORPHANED,
        Action.NONE,
    ),
    (
        "same name, not ours",
        desired(),
        observed(managed=False),
        PlanPolicy(),
        ReleaseState.FOREIGN,
        Action.NONE,
    ),
    (
        "same name, other cluster",
        desired(),
        observed(cluster="dev"),
        PlanPolicy(),
        ReleaseState.FOREIGN,
        Action.NONE,
    ),
]


@pytest.mark.parametrize(
    ("want", "have", "policy", "state", "action"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_state_and_action(
    want: DesiredRelease | None,
    have: ObservedRelease | None,
    policy: PlanPolicy,
    state: ReleaseState,
    action: Action,
) -> None:
    result = plan([want] if want else [], [have] if have else [], cluster=CLUSTER, policy=policy)
    [step] = result.steps
    assert (step.state, step.action) == (state, action), step.reason


def test_releases_of_other_clusters_and_unmanaged_ones_are_never_listed() -> None:
    result = plan([], [observed("a", cluster="dev"), observed("b", managed=False)], cluster=CLUSTER)
    assert result.steps == ()


HELD_CASES = [
    # (id, broken files as (path, claim), releases kept)
    ("its own file, renamed", [("clusters/prod/x/phi.yaml", Claim("default", "phi"))], {"phi"}),
    ("its own file, name broken", [("clusters/prod/phi.yaml", Claim("default", "ph!"))], {"phi"}),
    ("another Workspace's file", [("clusters/prod/x.yaml", Claim("default", "x"))], set()),
    ("same name, other namespace", [("clusters/prod/p.yaml", Claim("team-a", "phi"))], set()),
    ("a file that could be anything", [("clusters/prod/p.yaml", Claim())], {"phi", "mistral"}),
]


@pytest.mark.parametrize(
    ("broken", "kept"), [case[1:] for case in HELD_CASES], ids=[case[0] for case in HELD_CASES]
)
def test_releases_an_invalid_file_may_define_are_kept(
    broken: list[tuple[str, Claim]], kept: set[str]
) -> None:
    have = [observed("phi"), observed("mistral")]
    everything = PlanPolicy(max_prune_ratio=1.0)
    result = plan([], have, cluster=CLUSTER, policy=everything, claims=claims_of(broken))
    held = {s.name for s in result.steps if s.state is ReleaseState.HELD}
    assert held == kept
    assert all(s.action is Action.NONE for s in result.steps if s.name in kept)
    assert all(s.action is Action.UNINSTALL for s in result.steps if s.name not in kept)
    assert all(broken[0][0] in s.reason for s in result.steps if s.name in kept)


def test_pruning_more_than_the_allowed_share_is_refused_but_the_rest_proceeds() -> None:
    have = [observed(f"w{i}") for i in range(10)]
    want = [desired("w0"), desired("w1", digest="new"), desired("w10")]
    result = plan(want, have, cluster=CLUSTER, policy=PlanPolicy(max_prune_ratio=0.5))
    assert "refusing to uninstall 8 of 10 releases" in result.refused_prune
    actions = {s.name: s.action for s in result.steps}
    assert actions["w1"] is Action.UPGRADE
    assert actions["w10"] is Action.INSTALL
    assert all(actions[f"w{i}"] is Action.NONE for i in range(2, 10))
    forced = plan(want, have, cluster=CLUSTER, policy=PlanPolicy(force=True))
    assert forced.refused_prune == ""
    assert sum(s.action is Action.UNINSTALL for s in forced.steps) == 8


def test_removing_a_single_workspace_is_always_allowed() -> None:
    result = plan([], [observed()], cluster=CLUSTER, policy=PlanPolicy(max_prune_ratio=0.1))
    assert result.refused_prune == ""
    assert [s.action for s in result.steps] == [Action.UNINSTALL]


def test_steps_are_in_a_stable_order() -> None:
    want = [desired(n) for n in ("c", "a", "b")]
    assert [s.name for s in plan(want, [], cluster=CLUSTER).steps] == ["a", "b", "c"]


def test_release_names_fit_helm() -> None:
    assert release_name("phi") == "phi"
    long = "a" * 60
    name = release_name(long)
    assert len(name) == 53
    assert name != release_name("a" * 59)
    assert name == release_name(long)


def test_a_step_names_its_workspace() -> None:
    step = plan(
        [],
        [
            dataclasses.replace(
                observed("rel"),
                labels={**observed("rel").labels, "modelsync.dev/workspace": "the-ws"},
            )
        ],
        cluster=CLUSTER,
    ).steps[0]
    assert step.workspace == "the-ws"


@pytest.mark.parametrize(
    ("drift", "action"), [(DriftPolicy.WARN, Action.NONE), (DriftPolicy.CORRECT, Action.UPGRADE)]
)
def test_drifted_releases_are_reported_or_corrected(drift: DriftPolicy, action: Action) -> None:
    result = plan(
        [desired()],
        [observed()],
        cluster=CLUSTER,
        policy=PlanPolicy(drift=drift),
        drifted={("default", "phi")},
    )
    [step] = result.steps
    assert (step.state, step.action) == (ReleaseState.DRIFTED, action)


@pytest.mark.parametrize(
    ("configured", "proposed", "in_force", "limit"),
    [
        (0.5, None, None, 0.5),  # Git says nothing: the controller's
        (0.5, 0.2, None, 0.2),  # Git tightens at once
        (0.5, 1.0, None, 0.5),  # and never loosens past the controller's
        (0.5, 0.4, 0.1, 0.1),  # nor past the limit in force, in the commit that loosens it
        (0.5, 0.4, 0.4, 0.4),  # once applied without needing it, the looser limit holds
        (1.0, 1.0, 1.0, 1.0),
    ],
)
def test_the_prune_limit_is_the_strictest_of_the_three(
    configured: float, proposed: float | None, in_force: float | None, limit: float
) -> None:
    assert prune_limit(configured, proposed, in_force) == limit
