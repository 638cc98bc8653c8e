"""Two `modelsync run` replicas on one Lease: a leader paused (SIGSTOP) in the middle of an
install, and replicas whose wall clocks disagree by hours.

A paused leader stands in for a frozen VM, a long GC pause or a throttled container; the
standby must take over and finish the work, and the old leader, resumed after losing the
Lease, must not act. Clock skew comes from libfaketime (Debian's ``libfaketime``,
LD_PRELOADed into the replica: Python's clock calls go through libc, so the controller's
own code sees the skewed time; the Helm SDK's Go runtime reads the clock through the
vDSO and keeps the true time, which the Lease code never uses). The controller measures a
Lease's expiry from when *it* observed the record change (as client-go does), so neither
a clock hours ahead nor one hours behind may let a standby take a Lease still renewed.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.faults import report
from tests.faults.proxy import Hang, Rule
from tests.faults.world import LEASE, World
from tests.support.replica import Replica
from tests.support.waiting import wait_for

pytestmark = pytest.mark.cluster

FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
TAKEOVER_TIMEOUT = 30.0
#: How long both replicas are watched after convergence: several Lease durations.
SETTLE = 8.0
HELM_DEADLINE = 8.0  # timeout: in tests/faults/world.py's CONFIG


class Leaders:
    """Samples both replicas' /status; counts the moments both said they lead."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas
        self.both = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            leading = [r.status().get("leader") is True for r in self.replicas]
            self.samples += 1
            self.both += all(leading)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _leader(replicas: list[Replica]) -> Replica:
    wait_for(lambda: any(r.status().get("leader") for r in replicas), timeout=TAKEOVER_TIMEOUT)
    return next(r for r in replicas if r.status().get("leader"))


def test_a_leader_paused_mid_install_loses_to_the_standby(world: World) -> None:
    world.put("alpha")
    world.commit("alpha")
    world.watch.start()
    replicas = [world.start(n, extra=f"leaderElection: {LEASE}\n") for n in ("rep-a", "rep-b")]
    assert world.converge(time.monotonic()) is not None, world.tail()
    leader = _leader(replicas)
    standby = next(r for r in replicas if r is not leader)
    # Held at the last step of the install: objects applied, record pending-install.
    rule = world.proxy.add(Rule("PUT", r"/secrets/sh\.helm\.release\.v1\.beta\.v1$", Hang()))
    world.put("beta")
    world.expected_commit["beta"] = world.commit("beta")
    assert rule.hit.wait(60), world.tail()
    leader.pause()
    paused = since = time.monotonic()
    wait_for(lambda: standby.status().get("leader") is True, timeout=TAKEOVER_TIMEOUT)
    converged = world.converge(since)  # the standby reinstalled beta (left pending-install)
    # Paused past its Helm deadline (8s): on SIGCONT the old leader's install is cancelled
    # at once, and Helm records it failed, over the beta the standby has installed meanwhile
    # (nothing fences a Secret write with the Lease). Its request is still held: no answer
    # can race the cancellation.
    time.sleep(max(0.0, HELM_DEADLINE + 1 - (time.monotonic() - paused)))
    leaders = Leaders(replicas)
    leader.resume()
    time.sleep(SETTLE)
    world.proxy.clear()
    seen = set(world.watch.statuses.get("beta", set()))
    # The new leader reads releases again on its next full pass (every 10 minutes, or on
    # SIGHUP, which stands in for the wait here).
    resumed = time.monotonic()
    standby.resync()
    leaders.stop()
    outcome = report.record(
        world.outcome(
            "2 replicas: leader SIGSTOPped mid-install",
            f"SIGSTOP >={HELM_DEADLINE + 1:.0f}s over a 4s Lease, SIGCONT, full pass",
            resumed,
            notes=f"{leaders.both}/{leaders.samples} samples with 2 leaders; "
            f"beta's records went {'/'.join(sorted(seen))}",
        )
    )
    assert converged is not None, world.tail()
    assert "failed" in seen, "the old leader's stale write did not happen: nothing was tested"
    assert leaders.both == 0, world.tail()
    assert outcome.ok, f"{outcome}\n{world.tail()}"


def test_replicas_with_clocks_hours_apart_keep_one_leader(world: World) -> None:
    assert FAKETIME.is_file(), f"{FAKETIME} is missing: apt-get install libfaketime (.ci/run)"
    world.put("alpha")
    world.commit("alpha")
    world.watch.start()
    lease = f"leaderElection: {LEASE}\n"
    # Behind by less than the hour of slack the test certificates have before "now".
    behind = world.start("clock-behind", extra=lease, env=_skewed("-45m"))
    assert world.converge(time.monotonic()) is not None, world.tail()
    ahead = world.start("clock-ahead", extra=lease, env=_skewed("+3h"))
    leaders = Leaders([behind, ahead])
    wait_for(lambda: ahead.status().get("passes") is not None, timeout=30)
    time.sleep(SETTLE)  # the Lease renewed by a clock 45m behind, read by one 3h ahead
    world.put("beta")
    world.expected_commit["beta"] = world.commit("beta")
    since = time.monotonic()
    converged = world.converge(since)
    leaders.stop()
    outcome = report.record(
        world.outcome(
            "2 replicas: clocks 3h45m apart",
            "libfaketime: leader -45m, standby +3h",
            since,
            notes=f"{leaders.both}/{leaders.samples} samples with 2 leaders",
        )
    )
    assert behind.status().get("leader") is True, "the standby took a Lease still renewed"
    assert converged is not None, world.tail()
    assert leaders.both == 0, world.tail()
    assert outcome.ok, f"{outcome}\n{world.tail()}"


def _skewed(offset: str) -> dict[str, str]:
    preload = " ".join(p for p in (os.environ.get("LD_PRELOAD", ""), str(FAKETIME)) if p)
    # Only the wall clock is skewed (what differs between machines); intervals are measured
    # on the monotonic clock, which runs at the same rate everywhere.
    return {"LD_PRELOAD": preload, "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
