"""Requests through the API wake the loop: a short poll of the ModelWorkspace objects.

Engine layer, beside ``loop.py``. ``modelsync reconcile|suspend|resume|reset`` set
annotations on a Workspace's object (core/control.py); this thread lists the cluster's
objects every ``every`` seconds (one list per namespace, while this replica leads) and
asks the loop for a full pass when a request annotation changed. The pass itself reads
the requests again and acts on them: the watch only decides when, so a missed or doubled
wake-up costs a pass, never a wrong action. A poll, not a watch: a few lists a second per
namespace cost the API server nothing, and need no resumable watch state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from controller.core.control import REQUESTS, requests_of
from controller.core.ports import TargetError

log = logging.getLogger(__name__)

Key = tuple[str, str]
_NONE = ("",) * len(REQUESTS)


class RequestWatch:
    """Polls for changed requests and calls ``wake(reason)`` for each poll that saw some.

    ``read`` is the ``ObjectStore``'s (core/ports.py): objects by key, None without the CRD.
    """

    def __init__(
        self,
        read: Callable[[Sequence[str]], Mapping[Key, Mapping[str, Any]] | None],
        namespaces: Callable[[], Sequence[str]],
        wake: Callable[[str], None],
        *,
        leading: Callable[[], bool] = lambda: True,
        every: float = 2.0,
    ) -> None:
        self._read = read
        self._namespaces = namespaces
        self._wake = wake
        self._leading = leading
        self.every = every
        self._seen: dict[Key, tuple[str, ...]] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> list[Key]:
        """One poll: the objects whose requests changed since the last (none the first time)."""
        namespaces = self._namespaces()
        if not namespaces or not self._leading():
            return []
        try:
            live = self._read(namespaces)
        except TargetError as e:
            log.debug("cannot poll the ModelWorkspaces: %s", e)
            return []
        seen = {key: requests_of(obj) for key, obj in (live or {}).items()}
        before, self._seen = self._seen, seen
        if before is None:
            return []
        # A new object (the controller just wrote it) wakes no one unless it carries requests.
        changed = sorted(k for k, requests in seen.items() if before.get(k, _NONE) != requests)
        if changed:
            self._wake("requested through the API: " + ", ".join(f"{n}/{m}" for n, m in changed))
        return changed

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="modelsync-requests", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.every + 35)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.poll()
            except Exception:  # the loop's passes still run; a bug here must not end polling
                log.exception("polling the ModelWorkspaces failed")


__all__ = ["RequestWatch"]
