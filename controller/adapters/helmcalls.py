"""One Helm SDK call under a deadline, and what its errors mean.

Adapter layer, below ``helmtarget.py``. The SDK's ``timeout=`` only bounds waits for
readiness and hooks, never API calls (docs/helm-sdk-notes.md), so the deadline of an
action is kept here: the call runs on a worker thread; when the deadline passes, the
action's ``HelmContext`` is cancelled (which interrupts an in-flight apply at once) and
the caller waits a short grace for Helm to record the outcome. A call that is still
running after that (a slow release-storage write, or a rollback or uninstall, which take
no context) is left to finish in the background; ``Deadlines.busy`` says so, and the
target refuses another action on that release until it has.

``failure`` turns a Helm error into a one-line message (cut short: Helm quotes the API
server's Status messages, which can echo request bodies) and whether retrying can help.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

import helm_python as helm

from controller.adapters.kube import truncate

T = TypeVar("T")
Key = tuple[str, str]
MAX_HELM_MESSAGE = 300

#: Errors that the same call will raise again: bad input, not the cluster's state.
_PERMANENT = (
    helm.HelmInvalidArgError,
    helm.HelmChartInvalidError,
    helm.HelmChartLoadError,
    helm.HelmRenderError,
    helm.HelmValuesError,
)
#: Words in Helm's messages for API answers that a retry will get again (422, immutable).
_PERMANENT_HINTS = ("is invalid", "field is immutable", "unprocessable", "forbidden")


class DeadlineExceededError(Exception):
    """The call did not finish within the deadline (it may still be running)."""


def failure(error: helm.HelmError) -> tuple[str, bool]:
    """A Helm error as (message, retryable)."""
    message = truncate(str(error), MAX_HELM_MESSAGE)
    if isinstance(error, _PERMANENT):
        return message, False
    lowered = message.lower()
    if isinstance(error, helm.HelmReleaseError) and any(h in lowered for h in _PERMANENT_HINTS):
        return message, False
    return message, True


class _Call(Generic[T]):
    """A call on a worker thread, with its context (when it takes one) and its outcome."""

    def __init__(self, work: Callable[[helm.HelmContext | None], T], cancellable: bool) -> None:
        self.done = threading.Event()
        self.result: list[T] = []
        self.error: BaseException | None = None
        self._work = work
        self._lock = threading.Lock()
        self._context = helm.HelmContext() if cancellable else None

    def run(self) -> None:
        try:
            self.result.append(self._work(self._context))
        except BaseException as e:  # handed to the waiting thread
            self.error = e
        finally:
            with self._lock:
                if self._context is not None:
                    self._context.close()
                    self._context = None
            self.done.set()

    def cancel(self) -> bool:
        with self._lock:
            if self._context is None:
                return False
            self._context.cancel()
            return True


class Deadlines:
    """Runs Helm calls with a deadline each, and remembers the ones that overran it."""

    def __init__(self, timeout: float, *, grace: float = 5.0) -> None:
        self.timeout = timeout
        self.grace = grace
        self._overrunning: dict[Key, threading.Event] = {}
        self._lock = threading.Lock()

    def busy(self, key: Key) -> bool:
        """Whether an earlier call on this release is still running past its deadline."""
        with self._lock:
            event = self._overrunning.get(key)
            if event is not None and event.is_set():
                del self._overrunning[key]
                return False
            return event is not None

    def call(
        self,
        key: Key,
        work: Callable[[helm.HelmContext | None], T],
        *,
        cancellable: bool = True,
    ) -> T:
        """``work(context)``'s result; raises what it raised, or DeadlineExceededError."""
        call: _Call[T] = _Call(work, cancellable)
        name = f"helm-{key[0]}-{key[1]}"
        threading.Thread(target=call.run, name=name, daemon=True).start()
        if not call.done.wait(self.timeout):
            cancelled = call.cancel()
            if not (cancelled and call.done.wait(self.grace)):
                with self._lock:
                    self._overrunning[key] = call.done
                raise DeadlineExceededError(
                    f"no answer within {self.timeout:g}s; the call goes on in the background"
                )
            if call.error is not None:
                why = f"cancelled after {self.timeout:g}s: {call.error}"
                raise DeadlineExceededError(truncate(why, MAX_HELM_MESSAGE)) from call.error
        if call.error is not None:
            raise call.error
        return call.result[0]
