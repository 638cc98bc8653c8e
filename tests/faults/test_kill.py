"""kill -9 of `modelsync run` at every step of a Helm install, upgrade and uninstall.

The proxy holds one request of the chosen step unanswered (so the controller is paused
exactly there, the step before it done and this one not), the process is killed, the
hold is dropped and the controller restarted with the same state folder. Helm's own
order of requests, as seen through the proxy (install: record created pending-install,
ConfigMap, Service and Deployment applied, record updated deployed; upgrade: new record
pending-upgrade, objects applied, the old record superseded, the new one deployed;
uninstall: record marked uninstalling, objects deleted, records deleted), gives the steps.
Stands in for an OOM kill, a node lost or a rollout of the controller at the worst moment.
"""

from __future__ import annotations

import time

import pytest

from tests.faults import report
from tests.faults.proxy import Hang, Rule
from tests.faults.world import World

pytestmark = pytest.mark.cluster

SECRETS = "/api/v1/namespaces/[^/]+/secrets"
RECORD = SECRETS + "/sh\\.helm\\.release\\.v1\\.alpha\\.v{}$"
#: (step, method, path) of each request a kill lands before, for the release alpha.
INSTALL = [
    ("record created", "POST", SECRETS + "$"),
    ("configmap applied", "PATCH", "/configmaps/alpha-config$"),
    ("deployment applied", "PATCH", "/deployments/alpha$"),
    ("record deployed", "PUT", RECORD.format(1)),
]
UPGRADE = [
    ("record created", "POST", SECRETS + "$"),
    ("deployment applied", "PATCH", "/deployments/alpha$"),
    ("old record superseded", "PUT", RECORD.format(1)),
    ("record deployed", "PUT", RECORD.format(2)),
]
UNINSTALL = [
    ("record uninstalling", "PUT", RECORD.format(1)),
    ("deployment deleted", "DELETE", "/deployments/alpha$"),
    ("service deleted", "DELETE", "/services/alpha$"),
    ("record deleted", "DELETE", RECORD.format(1)),
]
PAUSE_TIMEOUT = 60.0


def _kill_at(world: World, rule: Rule) -> float:
    """Wait until the controller is held at ``rule``, kill it, drop the hold, restart."""
    assert rule.hit.wait(PAUSE_TIMEOUT), f"the controller never reached {rule.method} {rule.path}"
    replica = world.replicas[0]
    replica.kill()
    world.proxy.clear()
    replica.restart()
    return time.monotonic()


def _ready(world: World) -> None:
    """alpha and beta installed by a running controller, the watch on."""
    world.put("alpha")
    world.put("beta")
    world.commit("alpha and beta")
    world.watch.start()
    world.start()
    assert world.converge(time.monotonic()) is not None, "the first install did not converge"


@pytest.mark.parametrize(("step", "method", "path"), INSTALL, ids=[s for s, _, _ in INSTALL])
def test_kill_during_install(world: World, step: str, method: str, path: str) -> None:
    world.put("beta")
    world.commit("beta")
    world.watch.start()
    world.start()
    assert world.converge(time.monotonic()) is not None
    rule = world.proxy.add(Rule(method, path, Hang()))
    world.put("alpha")
    world.expected_commit["alpha"] = world.commit("alpha")
    since = _kill_at(world, rule)
    outcome = report.record(
        world.outcome(f"kill -9: install, {step}", f"SIGKILL before {method}", since)
    )
    assert outcome.ok, f"{outcome}\n{world.tail()}"


@pytest.mark.parametrize(("step", "method", "path"), UPGRADE, ids=[s for s, _, _ in UPGRADE])
def test_kill_during_upgrade(world: World, step: str, method: str, path: str) -> None:
    _ready(world)
    rule = world.proxy.add(Rule(method, path, Hang()))
    world.put("alpha", context=4096)
    world.expected_commit["alpha"] = world.commit("alpha: shorter context")
    since = _kill_at(world, rule)
    outcome = report.record(
        world.outcome(f"kill -9: upgrade, {step}", f"SIGKILL before {method}", since)
    )
    assert outcome.ok, f"{outcome}\n{world.tail()}"


@pytest.mark.parametrize(("step", "method", "path"), UNINSTALL, ids=[s for s, _, _ in UNINSTALL])
def test_kill_during_uninstall(world: World, step: str, method: str, path: str) -> None:
    _ready(world)
    rule = world.proxy.add(Rule(method, path, Hang()))
    world.drop("alpha")
    world.commit("alpha goes")
    since = _kill_at(world, rule)
    outcome = report.record(
        world.outcome(f"kill -9: uninstall, {step}", f"SIGKILL before {method}", since)
    )
    assert outcome.ok, f"{outcome}\n{world.tail()}"
