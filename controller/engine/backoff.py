"""Per-release backoff after failed actions, and the limit on retries (Flux's "retries
exceeded"). Engine layer: ``sync.py``'s Syncer keeps one across passes; it is the one place
where a failed release's next attempt is decided. ``notifications.py`` spaces out the
attempts to deliver a notification with one of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Failure:
    until: float
    digest: str
    failures: int
    remediated: bool = False


@dataclass
class Backoff:
    """Per-release exponential backoff after failed actions, and a limit on retries.

    An entry is keyed by release and by the digest that failed: a change in Git (a new
    digest) is retried at once. After ``attempts`` failures of the same digest the release
    is only remediated (rolled back or uninstalled, per policy) and then waits for Git
    (Flux's "retries exceeded"); a successful remediation does not reset the count, or a
    failing upgrade would loop forever.
    """

    base: float = 5.0
    cap: float = 300.0
    attempts: int = 5
    _entries: dict[tuple[str, str], _Failure] = field(default_factory=dict)

    def blocked(self, key: tuple[str, str], digest: str, now: float, *, remedy: bool) -> bool:
        entry = self._entries.get(key)
        if entry is None or entry.digest != digest:
            return False
        return now < entry.until or (not remedy and entry.failures >= self.attempts)

    def exhausted(self, key: tuple[str, str], digest: str) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry.digest == digest and entry.failures >= self.attempts

    def failing(self, key: tuple[str, str], digest: str) -> bool:
        """Whether ``digest`` failed for ``key`` and has not succeeded since (a rollback
        that undid it does not count)."""
        entry = self._entries.get(key)
        return entry is not None and entry.digest == digest

    def retry_at(self, key: tuple[str, str]) -> float | None:
        """When the backoff of ``key`` is over (None: no failure recorded)."""
        entry = self._entries.get(key)
        return None if entry is None else entry.until

    def failed(self, key: tuple[str, str], digest: str, now: float) -> None:
        entry = self._entries.get(key)
        failures = entry.failures + 1 if entry is not None and entry.digest == digest else 1
        delay = min(self.cap, self.base * 2 ** (failures - 1))
        self._entries[key] = _Failure(now + delay, digest, failures)

    def remediated(self, key: tuple[str, str]) -> None:
        if key in self._entries:
            self._entries[key].remediated = True

    def succeeded(self, key: tuple[str, str]) -> None:
        self.reset(key)

    def reset(self, key: tuple[str, str]) -> None:
        """Forget the release's failures (``modelsync reset``): its next step runs at once,
        with the full count of attempts again."""
        self._entries.pop(key, None)

    def due(self, now: float) -> bool:
        """Whether a retry or a remediation is due (so the next pass must not be skipped)."""
        return any(
            e.until <= now and (e.failures < self.attempts or not e.remediated)
            for e in self._entries.values()
        )


__all__ = ["Backoff"]
