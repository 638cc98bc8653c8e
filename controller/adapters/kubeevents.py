"""Kubernetes Events for what a pass did: InstallSucceeded, UpgradeFailed, DriftDetected, ...

Adapter layer, fed by the engine's loop (``engine/loop.py`` hands each pass's
``core.status.Event``s to ``EventRecorder.record``, its ``EventSink``). Each Event is
recorded as an ``events.k8s.io/v1`` Event (falling back to core ``v1`` Events when that
API is not served or RBAC grants only the core group) with ``reportingController``
``modelsync.dev/controller``, ``reportingInstance`` = the pod's name, an ``action`` and a
CamelCase ``reason``, ``regarding`` the release's workload object (its Deployment, or its
tuning Job) when the resolver knows it, else the object the recorder was given (the
controller's ConfigMap or Namespace), with the Workspace named in the note.

The same event again within ``window`` seconds is not a new object: the existing one's
series count goes up (one PATCH), as client-go's recorder aggregates. Recording never
fails a pass: errors are logged and the event is dropped.

    recorder = EventRecorder(
        connection.client(),
        fallback=ObjectRef("v1", "ConfigMap", "modelsync-config", "modelsync"),
        instance=os.environ["POD_NAME"],
        regarding=helm_target.regarding,   # (namespace, release) -> ObjectRef | None
    )
    recorder.record(pass_result.events)
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from controller.adapters.kube import (
    JSON,
    KubeClient,
    KubeError,
    KubeForbiddenError,
    KubeNotFoundError,
    ObjectRef,
    micro_time,
    truncate,
)
from controller.core.status import Event

log = logging.getLogger(__name__)

CONTROLLER = "modelsync.dev/controller"
EVENTS_V1 = "events.k8s.io/v1"
CORE_V1 = "v1"
MAX_NOTE = 1024  # the API server refuses longer notes
_ACTIONS = {
    "Install": "Install",
    "Upgrade": "Upgrade",
    "Rollback": "Rollback",
    "Uninstall": "Uninstall",
    "Pruned": "Uninstall",
    "Validation": "Validate",
    "Drift": "DetectDrift",
}

Resolver = Callable[[str, str], ObjectRef | None]


def action_of(reason: str) -> str:
    """The ``action`` an event reports: what modelsync was doing (Install, DetectDrift...)."""
    for prefix, action in _ACTIONS.items():
        if reason.startswith(prefix):
            return action
    return "Reconcile"


def _time(seconds: float) -> str:
    return micro_time(seconds)[:19] + "Z"


@dataclass
class _Series:
    api: str
    name: str
    namespace: str
    count: int
    last: float


class EventRecorder:
    """Records core Events as Kubernetes Events, aggregating repeats."""

    def __init__(
        self,
        client: KubeClient,
        *,
        fallback: ObjectRef,
        instance: str,
        regarding: Resolver | None = None,
        controller: str = CONTROLLER,
        window: float = 600.0,
        clock: Callable[[], float] = time.time,
        remembered: int = 1024,
    ) -> None:
        self._client = client
        self._fallback = fallback
        self._instance = instance
        self._regarding = regarding or (lambda _namespace, _name: None)
        self._controller = controller
        self._window = window
        self._clock = clock
        self._remembered = remembered
        self._series: OrderedDict[tuple[str, ...], _Series] = OrderedDict()
        self._api = EVENTS_V1
        self._lock = threading.Lock()

    def record(self, events: Sequence[Event]) -> None:
        """Record each event; failures are logged, never raised."""
        with self._lock:
            for event in events:
                try:
                    self.emit(event)
                except KubeError as e:
                    log.warning("event %s for %s/%s not recorded: %s", event.reason,
                                event.namespace, event.name, e)  # fmt: skip
                except Exception:  # events are best effort; a bug here must not stop a pass
                    log.exception("event %s for %s/%s not recorded", event.reason,
                                  event.namespace, event.name)  # fmt: skip

    def emit(self, event: Event) -> None:
        """Record one event (or count a repeat of it). Raises KubeError."""
        ref = self._regarding(event.namespace, event.name)
        note = event.message
        if ref is None:
            ref = self._fallback
            note = f"{event.namespace}/{event.name}: {note}"
        note = truncate(note, MAX_NOTE)
        key = (ref.namespace, ref.kind, ref.name, event.reason, note)
        now = self._clock()
        series = self._series.get(key)
        if series is not None and now - series.last < self._window:
            try:
                self._count(series, now)
                self._series.move_to_end(key)
                return
            except KubeNotFoundError:
                pass  # expired or deleted: record it anew
        self._series[key] = self._create(event, ref, note, now)
        while len(self._series) > self._remembered:
            self._series.popitem(last=False)

    def _create(self, event: Event, ref: ObjectRef, note: str, now: float) -> _Series:
        name = f"{ref.name}.{secrets.token_hex(8)}"
        namespace = ref.namespace or self._fallback.namespace
        if self._api == EVENTS_V1:
            try:
                path = f"/apis/events.k8s.io/v1/namespaces/{namespace}/events"
                self._client.create(path, self._events_v1(event, ref, note, name, now))
                return _Series(EVENTS_V1, name, namespace, 1, now)
            except (KubeNotFoundError, KubeForbiddenError) as e:
                log.info("events.k8s.io/v1 not usable (%s); recording core v1 Events", e.status)
                self._api = CORE_V1
        path = f"/api/v1/namespaces/{namespace}/events"
        self._client.create(path, self._core_v1(event, ref, note, name, now))
        return _Series(CORE_V1, name, namespace, 1, now)

    def _count(self, series: _Series, now: float) -> None:
        count = series.count + 1
        if series.api == EVENTS_V1:
            path = f"/apis/events.k8s.io/v1/namespaces/{series.namespace}/events/{series.name}"
            body: JSON = {"series": {"count": count, "lastObservedTime": micro_time(now)}}
        else:
            path = f"/api/v1/namespaces/{series.namespace}/events/{series.name}"
            body = {"count": count, "lastTimestamp": _time(now)}
        self._client.patch(path, body)
        series.count, series.last = count, now

    def _events_v1(self, event: Event, ref: ObjectRef, note: str, name: str, now: float) -> JSON:
        return {
            "apiVersion": EVENTS_V1,
            "kind": "Event",
            "metadata": {"name": name, "namespace": ref.namespace or self._fallback.namespace},
            "eventTime": micro_time(now),
            "reportingController": self._controller,
            "reportingInstance": self._instance,
            "action": action_of(event.reason),
            "reason": event.reason,
            "note": note,
            "type": "Warning" if event.warning else "Normal",
            "regarding": ref.as_reference(),
        }

    def _core_v1(self, event: Event, ref: ObjectRef, note: str, name: str, now: float) -> JSON:
        return {
            "apiVersion": CORE_V1,
            "kind": "Event",
            "metadata": {"name": name, "namespace": ref.namespace or self._fallback.namespace},
            "involvedObject": ref.as_reference(),
            "reason": event.reason,
            "message": note,
            "type": "Warning" if event.warning else "Normal",
            "firstTimestamp": _time(now),
            "lastTimestamp": _time(now),
            "count": 1,
            "source": {"component": self._controller},
            "reportingComponent": self._controller,
            "reportingInstance": self._instance,
            "action": action_of(event.reason),
        }
