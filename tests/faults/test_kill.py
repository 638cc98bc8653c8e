"""kill -9 of `modelsync run` at every step of a Helm install, upgrade and uninstall.

The proxy holds one request of the chosen step unanswered (so the controller is paused
exactly there, the steps before it done and this one not), the process is killed, the
hold dropped and the controller restarted with the same state folder. Helm's own order of
requests, as seen through the proxy, gives the steps: an install creates its record
(pending-install), applies the ConfigMap, Service and Deployment, then updates the record
(deployed); an upgrade creates the new record (pending-upgrade), applies the objects, then
updates two records (the old one superseded, the new one deployed); an uninstall marks
the record uninstalling, deletes the objects, then deletes the records.
Stands in for an OOM kill, a lost node or a rollout of the controller at the worst moment.

One world for the module: each scenario starts where the one before converged.
"""

from __future__ import annotations

import itertools
import time

import pytest

from tests.faults import report
from tests.faults.proxy import Hang, Rule
from tests.faults.world import World

pytestmark = pytest.mark.cluster

SECRETS = "/api/v1/namespaces/[^/]+/secrets"
#: (step, method, path pattern with {name}, nth matching call) a kill lands before.
INSTALL = [
    ("record created", "POST", SECRETS + "$", 1),
    ("configmap applied", "PATCH", "/configmaps/{name}-config$", 1),
    ("deployment applied", "PATCH", "/deployments/{name}$", 1),
    ("record deployed", "PUT", SECRETS + "/sh\\.helm\\.release\\.v1\\.{name}\\.v1$", 1),
]
RECORDS = SECRETS + "/sh\\.helm\\.release\\.v1\\.{name}\\.v[0-9]+$"
UPGRADE = [
    ("record created", "POST", SECRETS + "$", 1),
    ("deployment applied", "PATCH", "/deployments/{name}$", 1),
    ("1st record update", "PUT", RECORDS, 1),
    ("2nd record update", "PUT", RECORDS, 2),
]
UNINSTALL = [
    ("record uninstalling", "PUT", RECORDS, 1),
    ("deployment deleted", "DELETE", "/deployments/{name}$", 1),
    ("service deleted", "DELETE", "/services/{name}$", 1),
    ("records deleted", "DELETE", RECORDS, 1),
]
PAUSE_TIMEOUT = 60.0
_contexts = itertools.count(4096, -256)


def _ids(steps: list[tuple[str, str, str, int]]) -> list[str]:
    return [step for step, *_ in steps]


@pytest.fixture(scope="module")
def running(shared_world: World) -> World:
    world = shared_world
    world.put("alpha")
    world.commit("alpha")
    world.watch.start()
    world.start()
    assert world.converge(time.monotonic()) is not None, world.tail()
    return world


def _killed_at(world: World, rule: Rule, scenario: str) -> None:
    """Wait until the controller is held at ``rule``, kill it, drop the hold, restart;
    then the outcome, timed from the restart."""
    assert rule.hit.wait(PAUSE_TIMEOUT), f"never reached {rule.method} {rule.path}\n{world.tail()}"
    replica = world.replicas[0]
    replica.kill()
    world.proxy.clear()
    replica.restart()
    since = time.monotonic()
    outcome = report.record(world.outcome(scenario, f"SIGKILL before {rule.method}", since))
    assert outcome.ok, f"{outcome}\n{world.tail()}"


def _hold(world: World, method: str, path: str, nth: int, name: str) -> Rule:
    pattern = path.replace("{name}", name)
    return world.proxy.add(Rule(method, pattern, Hang(), nth=nth, agent="Helm/"))


@pytest.mark.parametrize(("step", "method", "path", "nth"), INSTALL, ids=_ids(INSTALL))
def test_kill_during_install(running: World, step: str, method: str, path: str, nth: int) -> None:
    name = f"new-{INSTALL.index((step, method, path, nth))}"
    running.begin()
    rule = _hold(running, method, path, nth, name)
    running.put(name)
    running.expected_commit[name] = running.commit(f"{name} added")
    _killed_at(running, rule, f"kill -9: install, {step}")


@pytest.mark.parametrize(("step", "method", "path", "nth"), UPGRADE, ids=_ids(UPGRADE))
def test_kill_during_upgrade(running: World, step: str, method: str, path: str, nth: int) -> None:
    running.begin()
    rule = _hold(running, method, path, nth, "alpha")
    running.put("alpha", context=next(_contexts))
    running.expected_commit["alpha"] = running.commit("alpha: another context length")
    _killed_at(running, rule, f"kill -9: upgrade, {step}")


@pytest.mark.parametrize(("step", "method", "path", "nth"), UNINSTALL, ids=_ids(UNINSTALL))
def test_kill_during_uninstall(running: World, step: str, method: str, path: str, nth: int) -> None:
    name = f"gone-{UNINSTALL.index((step, method, path, nth))}"
    running.put(name)
    running.commit(f"{name} added")
    assert running.converge(time.monotonic()) is not None, running.tail()
    running.begin()
    rule = _hold(running, method, path, nth, name)
    running.drop(name)
    running.commit(f"{name} goes")
    _killed_at(running, rule, f"kill -9: uninstall, {step}")
