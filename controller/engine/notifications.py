"""Reporting rollouts to GitHub and a webhook without ever holding up the loop.

Engine layer, beside ``loop.py``. After each pass the loop hands its result to
``Notifier.observe``, which decides in pure code (``core.rollouts``) whether the commit's
state is news, builds the requests (``core.notifications``) and puts them on a small
bounded queue; that is all the loop waits for. One worker thread sends them
(``adapters.httpsend``), each attempt under a timeout, a failed one retried after the
exponential backoff of ``engine.backoff`` a bounded number of times, then dropped with a
warning. A full queue drops its oldest request: a receiver that is down costs
notifications, never reconcile passes.

Everything a notification says passes through ``core.redaction`` with the process's
secrets first, like ``/status`` and Events.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from controller.adapters.httpsend import DeliveryError, send
from controller.core.notifications import (
    NotifyConfigError,
    NotifySecrets,
    Receivers,
    Request,
    receivers,
    requests_for,
)
from controller.core.redaction import redact
from controller.core.rollouts import Rollout, RolloutMemory, rollout_of
from controller.engine.backoff import Backoff
from controller.engine.settings import Settings, SettingsError, duration
from controller.engine.sync import NOT_LEADING, PassResult

__all__ = ["Notifier", "build_notifier", "read_secrets"]

log = logging.getLogger(__name__)

Sender = Callable[[Request, float], int]


def read_secrets(directory: Path) -> NotifySecrets:
    """The notifications Secret's keys, as mounted files (each optional; one that exists
    and cannot be read is a SettingsError)."""

    def read(name: str) -> str:
        try:
            return (directory / name).read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return ""
        except OSError as e:  # mounted but unreadable: say so rather than run without it
            raise SettingsError(f"cannot read {directory / name}: {e.strerror}") from e

    return NotifySecrets(
        github_token=read("github-token"),
        webhook_url=read("webhook-url"),
        webhook_hmac=read("webhook-hmac"),
    )


def build_notifier(settings: Settings, secrets: NotifySecrets) -> Notifier | None:
    """The Notifier the settings' ``notifications`` ask for; None when they ask for none."""
    config = settings.notifications
    if not config:
        return None
    try:
        to = receivers(
            config,
            secrets,
            cluster=settings.cluster,
            repo_url=settings.repo,
            timeout=duration(config.get("timeout", "10s")),
        )
    except NotifyConfigError as e:
        raise SettingsError(str(e)) from e
    return Notifier(to) if to.any else None


class Notifier:
    """Turns pass results into notifications, sent by one worker thread."""

    def __init__(
        self,
        receivers: Receivers,
        *,
        secrets: Sequence[str] = (),
        sender: Sender = send,
        backoff: Backoff | None = None,
        queue_size: int = 32,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.receivers = receivers
        self.secrets = tuple(secrets)
        self._send = sender
        self._backoff = backoff or Backoff(base=1.0, cap=30.0, attempts=4)
        self._queue: queue.Queue[Request] = queue.Queue(queue_size)
        self._memory = RolloutMemory()
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._deliveries = itertools.count()
        self._overflowing = False
        self.sent = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="modelsync-notify", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def observe(self, result: PassResult) -> Rollout | None:
        """Queue the notifications ``result`` calls for; the rollout reported, if any."""
        rollout = _rollout(result)
        if rollout is None or not self._memory.news(rollout):
            return None
        rollout = self._redacted(rollout)
        for request in requests_for(rollout, self.receivers):
            self._enqueue(request)
        return rollout

    def _enqueue(self, request: Request) -> None:
        while True:
            try:
                self._queue.put_nowait(request)
                return
            except queue.Full:
                try:
                    old = self._queue.get_nowait()
                except queue.Empty:
                    continue
                self.dropped += 1
                # Once per outage, not once per request: a receiver down for hours must
                # not flood the log (the count is in ``dropped``).
                log.log(
                    logging.DEBUG if self._overflowing else logging.WARNING,
                    "notification queue full (receiver slow or down): dropping the oldest, "
                    "a %s notification",
                    old.receiver,
                )
                self._overflowing = True

    def _redacted(self, rollout: Rollout) -> Rollout:
        failures = tuple(
            replace(f, message=redact(f.message, self.secrets)) for f in rollout.failures
        )
        return replace(
            rollout, description=redact(rollout.description, self.secrets), failures=failures
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                request = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._deliver(request)

    def _deliver(self, request: Request) -> None:
        key = (request.receiver, request.url)
        digest = str(next(self._deliveries))  # each request its own count of attempts
        while not self._stop.is_set():
            try:
                self._send(request, self.receivers.timeout)
            except DeliveryError as e:
                self._backoff.failed(key, digest, self._clock())
                exhausted = self._backoff.exhausted(key, digest)
                if not e.retryable or exhausted:
                    self._backoff.succeeded(key)  # forget: the next request starts afresh
                    self.dropped += 1
                    log.warning("notification not delivered: %s", e)
                    return
                log.info("notification attempt failed, retrying: %s", e)
                until = self._backoff.retry_at(key) or self._clock()
                self._stop.wait(max(0.0, until - self._clock()))
                continue
            self._backoff.succeeded(key)
            self._overflowing = False
            self.sent += 1
            log.debug("notification sent to %s", request.receiver)
            return


def _rollout(result: PassResult) -> Rollout | None:
    """The rollout a pass result reports; None when it says nothing about a commit (the
    fetch failed, this replica stopped leading, nothing applied yet)."""
    if result.error:
        if not result.tried or NOT_LEADING in result.error:
            return None
        return rollout_of(result.cluster, result.tried, (), error=result.error)
    if not result.commit or (result.report is None and not result.statuses):
        return None
    return rollout_of(
        result.cluster, result.commit, result.statuses, result.results, failing=result.failing
    )
