"""Status in the cluster: each pass's rows written to the Workspaces' ModelWorkspace objects,
and the requests read back from them.

Engine layer, used by ``sync.py``'s Syncer (with the helm target; ``run_pass`` asks for the
requests before planning and publishes after recording). Safety rules:

- the requests are read before anything is planned; a failed read stops the pass (a
  suspended Workspace must not be reconciled because its object could not be read);
- an object is applied only when its labels or spec differ from the live one, its status
  only when it differs: a quiet pass writes nothing;
- objects go only after a full pass that read Git and the target (``statusobjects.stale``);
  never on a failed read, and a release the plan keeps keeps its object;
- publishing never fails the pass: a failed write is logged and the next pass is full;
- what is written passes through ``core.redaction`` with the process's secrets, like every
  other exit (a Workspace's URL with a token in it shows masked in the spec copy too).

Where the API server does not serve the kind (the CRD is not installed), nothing is read or
written, and that is said once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from controller.core.control import Control, control_of
from controller.core.planning import Plan
from controller.core.ports import ObjectStore, TargetError
from controller.core.redaction import redact_data
from controller.core.status import ActionResult, WorkspaceStatus
from controller.core.statusobjects import ObjectSource, object_spec, object_status, stale

log = logging.getLogger(__name__)

Key = tuple[str, str]


class Publisher:
    """What the last full pass knew of each Workspace's object, and the writes after each pass."""

    def __init__(self, store: ObjectStore, cluster: str) -> None:
        self.store = store
        self.cluster = cluster
        self.failed = False  # the last publish did not finish: the next pass must be full
        self.sources: dict[Key, ObjectSource] = {}
        self.controls: dict[Key, Control] = {}
        self.namespaces: tuple[str, ...] = ()
        self._unserved_said = False
        self._published: list[WorkspaceStatus] = []
        self.secrets: tuple[str, ...] = ()  # the process's (``modelsync run`` sets them)

    def read_controls(self, namespaces: Sequence[str]) -> dict[Key, Control]:
        """The requests on this cluster's objects. Raises TargetError."""
        live = self._read(namespaces)
        return {key: control_of(obj) for key, obj in (live or {}).items()}

    def remember(
        self,
        sources: Mapping[Key, ObjectSource],
        controls: Mapping[Key, Control],
        namespaces: Sequence[str],
    ) -> None:
        self.sources, self.controls = dict(sources), dict(controls)
        self.namespaces = tuple(namespaces)

    def publish(
        self,
        statuses: Sequence[WorkspaceStatus],
        *,
        now: str,
        plan: Plan | None = None,
        results: Sequence[ActionResult] = (),
    ) -> int:
        """Write what changed; with a full pass's ``plan``, delete the objects of Workspaces
        that left Git. Returns the number of writes (0 on a quiet pass or a failure).

        Between full passes, rows equal to those last published are not even compared
        with the live objects (no list): an object edited by hand is set right at the next
        full pass."""
        if plan is None and not self.failed and list(statuses) == self._published:
            return 0
        try:
            writes = self._publish(statuses, now=now, plan=plan, results=results)
        except TargetError as e:
            log.warning("cannot write the ModelWorkspace status: %s", e)
            self.failed = True
            return 0
        self.failed = False
        self._published = list(statuses)
        return writes

    def _publish(
        self,
        statuses: Sequence[WorkspaceStatus],
        *,
        now: str,
        plan: Plan | None,
        results: Sequence[ActionResult],
    ) -> int:
        live = self._read(self.namespaces)
        if live is None:
            return 0
        rows = {(s.namespace, s.release or s.name): s for s in statuses}
        writes = 0
        for key, source in sorted(self.sources.items()):
            row = rows.get(key) or rows.get((source.namespace, source.workspace))
            if row is None:
                continue
            current = live.get(key)
            spec: dict[str, Any] = redact_data(object_spec(source, self.cluster), self.secrets)
            if current is None or _differs(spec, current):
                current = self.store.apply(spec)
                writes += 1
            generation = int((current.get("metadata") or {}).get("generation") or 0)
            previous: Mapping[str, Any] = current.get("status") or {}
            status = redact_data(
                object_status(
                    row,
                    source,
                    generation=generation,
                    control=self.controls.get(key),
                    previous=previous,
                    now=now,
                ),
                self.secrets,
            )
            if status != previous:
                self.store.apply_status(source.namespace, source.name, status)
                writes += 1
        if plan is not None:
            for namespace, name in stale(live.keys(), self.sources.keys(), plan, results):
                log.info("deleting ModelWorkspace %s/%s: its Workspace left Git", namespace, name)
                self.store.delete(namespace, name)
                writes += 1
        return writes

    def _read(self, namespaces: Sequence[str]) -> dict[Key, dict[str, Any]] | None:
        live = self.store.read(namespaces)
        if live is None and not self._unserved_said:
            log.warning(
                "the API server does not serve modelworkspaces.modelsync.dev (install the "
                "CRD from the modelsync chart): no status objects, no requests through the API"
            )
            self._unserved_said = True
        return live


def _differs(spec: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    labels = (live.get("metadata") or {}).get("labels") or {}
    wanted = spec["metadata"]["labels"]
    return live.get("spec") != spec["spec"] or any(labels.get(k) != v for k, v in wanted.items())


__all__ = ["Publisher"]
