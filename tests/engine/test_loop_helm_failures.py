"""A failing upgrade on the helm target, seen from the loop: told once, never "success".

The Helm SDK applies to the API emulator; a 500 on the Deployment's PATCH is the real
behaviour of an admission webhook or an API server that refuses the new spec. Each failed
upgrade is rolled back (``onUpgradeFailure: rollback``) and retried after its backoff:
the rollback leaves a Ready release on the old revision, which must neither count as the
commit rolling out nor make the next identical failure news.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from controller.core.notifications import NotifySecrets, receivers
from controller.engine.backoff import Backoff
from controller.engine.loop import Controller
from controller.engine.notifications import Notifier
from tests.engine.conftest import World, workspace
from tests.support.receiver import Receiver, receiver
from tests.support.waiting import wait_for


@pytest.fixture
def sink() -> Iterator[Receiver]:
    with receiver() as recording:
        yield recording


def test_a_failing_upgrade_is_logged_once_and_reported_as_failure(
    world: World, sink: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    config = {"webhook": {"url": f"{sink.url}/hook"}, "allowLoopback": True}
    to = receivers(config, NotifySecrets(), cluster="edge", repo_url="", timeout=2.0)
    notifier = Notifier(to, backoff=Backoff(base=0.05, cap=0.1, attempts=2))
    controller = Controller(world.syncer, notifier=notifier)
    notifier.start()
    try:
        controller.run_once()
        world.origin.write("clusters/edge/alpha.yaml", workspace("alpha", context=4096))
        broken = world.origin.commit("alpha: shorter context")
        with caplog.at_level(logging.WARNING, logger="controller.engine.loop"):
            for _ in range(6):
                world.api.fail("PATCH", r"/deployments/alpha$", 500)
                for _ in range(2):
                    world.now += 400  # past any backoff
                    controller.run_once()
        wait_for(lambda: len(sink.requests) == 2)
    finally:
        notifier.stop()
    told = [
        (vars(r)["workspace"], vars(r)["reason"]) for r in caplog.records if "reason" in vars(r)
    ]
    # Five upgrade/rollback cycles: one line, and one more when the retries run out.
    assert told == [("alpha", "UpgradeFailed"), ("alpha", "RetriesExceeded")]
    states = [(r.json()["commit"], r.json()["state"]) for r in sink.requests]
    assert states[1] == (broken, "failure")
    assert states[0][1] == "pending"  # no pods in the emulator: the first commit never got Ready
