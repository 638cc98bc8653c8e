"""Faults a test injects into the emulated API server: error statuses and slow answers.

Test support, used by `kubeapi_emulator.py`. A rule names an HTTP method (or any) and a
regular expression searched in the request path (the query string is not part of it),
and applies to the next `times` matching requests, or to all of them until cleared when
`times` is None. Rules are set from the test's thread and read on the server's loop, so
the plan keeps them behind a lock.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

#: The reason kube-apiserver puts in a Status for each code the tests inject.
STATUS_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass
class FaultRule:
    method: str | None
    pattern: re.Pattern[str]
    remaining: int | None
    status: int | None = None
    reason: str | None = None
    message: str | None = None
    delay: float = 0.0
    retry_after: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        method_ok = self.method is None or self.method == method.upper()
        return method_ok and self.pattern.search(path) is not None


@dataclass(frozen=True)
class Injection:
    """What to do to one request: wait, then maybe answer with an error status."""

    delay: float = 0.0
    status: int | None = None
    reason: str | None = None
    message: str | None = None
    retry_after: int | None = None


@dataclass
class FaultPlan:
    rules: list[FaultRule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def take(self, method: str, path: str) -> Injection:
        """Consume every matching delay (they add up) and the oldest matching error rule."""
        delay, error = 0.0, None
        with self._lock:
            for rule in list(self.rules):
                if not rule.matches(method, path) or (
                    rule.status is not None and error is not None
                ):
                    continue
                rule.hits += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self.rules.remove(rule)
                delay += rule.delay
                if rule.status is not None:
                    error = rule
        if error is None:
            return Injection(delay=delay)
        status = error.status or 500
        return Injection(
            delay=delay,
            status=status,
            reason=error.reason or STATUS_REASONS.get(status, "InternalError"),
            message=error.message or f"injected fault: {method} {path} -> {status}",
            retry_after=error.retry_after,
        )
