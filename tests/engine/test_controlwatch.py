"""The poll that wakes the loop on requests made through the API (engine/controlwatch.py).

The objects are a dict behind the ``ObjectStore.read`` the watch takes (the real store is
exercised against the API server in tests/cluster/test_workspace_objects.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from controller.core.control import RECONCILE_AT, SUSPEND
from controller.core.ports import TargetError
from controller.engine.controlwatch import RequestWatch

Key = tuple[str, str]


class Objects:
    def __init__(self) -> None:
        self.items: dict[Key, dict[str, Any]] = {
            ("ml", n): {"metadata": {"annotations": {}}} for n in ("a", "b")
        }
        self.error = False
        self.reads = 0

    def read(self, namespaces: Sequence[str]) -> dict[Key, dict[str, Any]] | None:
        self.reads += 1
        if self.error:
            raise TargetError("503")
        return {k: v for k, v in self.items.items() if k[0] in namespaces}

    def annotate(self, name: str, key: str, value: str) -> None:
        self.items[("ml", name)]["metadata"]["annotations"][key] = value


def watch(objects: Objects, woken: list[str], *, leading: bool = True) -> RequestWatch:
    return RequestWatch(
        objects.read,
        lambda: ["ml"],
        woken.append,
        leading=lambda: leading,
    )


def test_a_changed_request_wakes_the_loop_once() -> None:
    objects, woken = Objects(), list[str]()
    poller = watch(objects, woken)
    assert poller.poll() == []  # the first poll only looks
    objects.annotate("a", RECONCILE_AT, "t1")
    objects.annotate("b", SUSPEND, "true")
    assert poller.poll() == [("ml", "a"), ("ml", "b")]
    assert woken == ["requested through the API: ml/a, ml/b"]
    assert poller.poll() == []
    assert len(woken) == 1
    objects.items[("ml", "c")] = {"metadata": {"annotations": {}}}  # the controller wrote it
    assert poller.poll() == []


def test_a_standby_replica_does_not_poll_and_a_failed_read_wakes_no_one() -> None:
    objects, woken = Objects(), list[str]()
    assert watch(objects, woken, leading=False).poll() == []
    assert objects.reads == 0
    poller = watch(objects, woken)
    poller.poll()
    objects.error = True
    objects.annotate("a", RECONCILE_AT, "t1")
    assert poller.poll() == []
    objects.error = False
    assert poller.poll() == [("ml", "a")]
    assert woken == ["requested through the API: ml/a"]
