"""Leadership is checked before every action, so a leader paused past its Lease stops.

The Lease lives in the emulated API server and the actions are real Helm calls against
it; only the passing of time is scripted (``Stalling``), because a process that stalls
mid-pass cannot be made on demand any other way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from controller.adapters.helmtarget import HelmTarget
from controller.adapters.leader import LeaderElector
from controller.core.planning import ObservedRelease, PlanPolicy, Step
from controller.core.status import ActionResult, WorkloadState, WorkspaceStatus
from controller.engine.loop import Controller
from controller.engine.sync import NOT_LEADING
from tests.engine.conftest import World, actions


class Stalling:
    """The helm target, in a process that stalls ``seconds`` during each action.

    Stands in for a controller paused mid-pass (a long stop-the-world pause, SIGSTOP, a
    frozen node): the elector's thread does not run meanwhile, only the clock moves.
    """

    kind = "helm"

    def __init__(self, target: HelmTarget, clock: list[float], seconds: float) -> None:
        self.target, self.clock, self.seconds = target, clock, seconds

    def observe(self, namespaces: Sequence[str]) -> list[ObservedRelease]:
        return self.target.observe(namespaces)

    def drifted(self, observed: Sequence[ObservedRelease]) -> set[tuple[str, str]]:
        return self.target.drifted(observed)

    def workloads(self) -> Mapping[tuple[str, str], WorkloadState]:
        return self.target.workloads()

    def apply(self, step: Step, commit: str) -> ActionResult:
        result = self.target.apply(step, commit)
        self.clock[0] += self.seconds
        return result

    def record(self, commit: str, statuses: Sequence[WorkspaceStatus]) -> None:
        self.target.record(commit, statuses)


def test_a_leader_paused_past_its_renew_deadline_stops_before_the_next_action(
    world: World,
) -> None:
    now = [1_000_000.0]
    elector = LeaderElector(
        world.target.connection.client(),
        namespace="default",
        identity="modelsync-0",
        lease_duration=15,
        renew_deadline=10,
        retry_period=2,
        clock=lambda: now[0],
        monotonic=lambda: now[0],
    )
    assert elector.step()
    world.syncer = world.new_syncer(PlanPolicy(), target=Stalling(world.target, now, 4))
    controller = Controller(world.syncer, leadership=elector)

    stopped = controller.run_once()  # actions start at 0, 4 and 8 s; at 12 s it is over

    assert actions(stopped) == {"alpha": "install:ok", "beta": "install:ok", "delta": "install:ok"}
    assert stopped.error == f"stopped after 3 of 4 actions: {NOT_LEADING}"
    assert set(world.releases()) == {"alpha", "beta", "delta"}
    assert world.syncer.commit == ""  # unfinished: the next leader's pass is a full one
    assert elector.step()  # no other replica took the Lease: renewed

    resumed = controller.run_once()

    assert resumed.ok
    assert actions(resumed) == {"gamma": "install:ok"}


@pytest.mark.parametrize("concurrency", [1, 3])
def test_no_action_starts_once_the_lease_is_lost_however_many_run_at_once(
    world: World, concurrency: int
) -> None:
    answers = iter([True] * 3)  # leading for the NodePools and two actions, then no longer
    world.syncer.concurrency = concurrency

    result = world.syncer.run_pass(may_act=lambda: next(answers, False))

    assert len(result.results) == 2
    assert all(r.ok for r in result.results)
    assert len(world.releases()) == 2
    assert result.error == f"stopped after 2 of 4 actions: {NOT_LEADING}"
