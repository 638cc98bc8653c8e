"""API errors on every verb the controller uses, through a history of install, upgrade and
uninstall: the proxy answers the first calls of each verb in the scenario's namespace
(Helm's release storage and objects, the controller's Lease, Events and workload lists)
with the fault, phase after phase, and lets the rest through.

Stands in for an API server under maintenance (5xx), an optimistic-concurrency race
(409), an RBAC change that briefly denies (403) and a server that stops answering (a
request held until the client's own deadline, or the server's request timeout).
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from tests.faults import report
from tests.faults.proxy import Action, Fail, Hang, Rule
from tests.faults.world import CONVERGE_DEADLINE, LEASE, World

pytestmark = pytest.mark.cluster

VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: The API server's own request timeout in the timeout scenario (60s by default): a read
#: Helm gives no deadline ends there.
SERVER_TIMEOUT = 10.0
#: name -> (action, client the rules pick ("" = every client), seconds to converge a phase)
FAULTS: dict[str, tuple[Action, str, float]] = {
    "500": (Fail(500), "", CONVERGE_DEADLINE),
    "409": (Fail(409), "", CONVERGE_DEADLINE),
    "403": (Fail(403), "", CONVERGE_DEADLINE),
    # The controller's own client gives up after 30s (its request timeout), Helm's actions
    # after 8s (the target's deadline); held requests are Helm's, to keep the scenario short.
    # Five held calls a phase, 8-10s each, one after another, plus the per-release backoff
    # (5s doubling) after each: twice the usual deadline.
    "timeout": (Hang(SERVER_TIMEOUT), "Helm/", 2 * CONVERGE_DEADLINE),
}


def _arm(world: World, action: Action, agent: str) -> list[Rule]:
    """The next call of each verb in the scenario's namespace gets ``action``."""
    world.proxy.clear()
    where = f"/namespaces/{world.namespace}/"
    return [world.proxy.add(Rule(v, where, action, agent=agent)) for v in VERBS]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_api_errors_on_every_verb(world: World, fault: str) -> None:
    action, agent, deadline = FAULTS[fault]
    world.watch.start()
    world.put("alpha")
    world.put("beta")
    rules = _arm(world, action, agent)
    world.commit("alpha and beta")
    started = time.monotonic()
    world.start(extra=f"leaderElection: {LEASE}\n")
    phases = [world.converge(started, deadline)]

    rules += _arm(world, action, agent)
    world.put("alpha", context=4096)
    world.drop("beta")
    world.expected_commit["alpha"] = world.commit("alpha: shorter context; beta goes")
    phases.append(world.converge(time.monotonic(), deadline))
    world.proxy.clear()

    faulted = sorted({r.method or "" for r in rules if r.applied})
    took = None if None in phases else round(sum(p or 0.0 for p in phases), 2)
    outcome = world.outcome(
        f"API {fault} on every verb",
        f"{fault} x{sum(r.applied for r in rules)} on {'/'.join(faulted)}"
        + (" (Helm's calls)" if agent else ""),
        time.monotonic(),
        notes=f"converge: install, then upgrade + uninstall, summed; {deadline:.0f}s a phase",
    )
    outcome = report.record(replace(outcome, converge_s=took))
    assert faulted == sorted(VERBS), f"verbs never faulted: {set(VERBS) - set(faulted)}"
    assert outcome.ok, f"{outcome}: phases {phases}\n{world.tail()}"
