"""Watch streams of the emulated API server: a log of changes and the events it replays.

Test support, used by `kubeapi_emulator.py`. Every write is recorded with its
resourceVersion; a watch replays what came after the resourceVersion it names (or, with
none, starts with an ADDED event per matching object) and then waits for more, until
its `timeoutSeconds` pass or the server stops. An expired resourceVersion (older than
the retained log) gets the 410 ERROR event clients re-list on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp.web

JSON = dict[str, Any]
ResourceKey = tuple[str, str, str]  # group, version, plural

_DEFAULT_TIMEOUT = 1800.0
#: The bookmark annotation that ends the initial events of a watch-list request.
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass(frozen=True)
class Change:
    revision: int
    resource: ResourceKey
    namespace: str | None
    event: JSON


@dataclass
class ChangeLog:
    retain: int = 10_000
    changes: list[Change] = field(default_factory=list)
    _oldest: int = 0
    _closing: bool = False
    _condition: asyncio.Condition | None = None

    def record(self, change: Change) -> None:
        self.changes.append(change)
        if len(self.changes) > self.retain:
            dropped = self.changes[: -self.retain]
            del self.changes[: -self.retain]
            self._oldest = dropped[-1].revision

    @property
    def condition(self) -> asyncio.Condition:
        if self._condition is None:  # created on the server's loop, at first use
            self._condition = asyncio.Condition()
        return self._condition

    async def announce(self) -> None:
        async with self.condition:
            self.condition.notify_all()

    async def close(self) -> None:
        """End every open watch (the server is stopping)."""
        self._closing = True
        await self.announce()

    async def stream(
        self,
        resource: ResourceKey,
        namespace: str | None,
        since: int,
        matches: Callable[[JSON], bool],
        timeout: float | None,
    ) -> AsyncIterator[JSON]:
        """Events for one resource (and namespace, if any) after `since`, as they come."""
        if since < self._oldest:
            yield {
                "type": "ERROR",
                "object": {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "Expired",
                    "code": 410,
                    "message": f"too old resource version: {since} ({self._oldest})",
                },
            }
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout or _DEFAULT_TIMEOUT)
        while not self._closing:
            async with self.condition:
                fresh = [
                    c
                    for c in self.changes
                    if c.revision > since
                    and c.resource == resource
                    and (namespace is None or c.namespace == namespace)
                ]
                if not fresh:
                    # Checked and awaited under the lock, so no announcement slips between.
                    remaining = deadline - loop.time()
                    try:
                        await asyncio.wait_for(self.condition.wait(), max(remaining, 0))
                    except TimeoutError:
                        return
                    continue
            for change in fresh:
                since = change.revision
                if matches(change.event["object"]):
                    yield change.event


async def respond_with_events(
    raw_request: aiohttp.web.BaseRequest, initial: Iterable[JSON], changes: AsyncIterator[JSON]
) -> aiohttp.web.StreamResponse:
    """Stream watch events as JSON lines, the way kube-apiserver answers `?watch=true`."""
    response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(raw_request)  # headers first: clients wait for them
    with contextlib.suppress(ConnectionError):  # the client stopped watching
        for event in initial:
            await response.write(json.dumps(event).encode() + b"\n")
        async for event in changes:
            await response.write(json.dumps(event).encode() + b"\n")
        await response.write_eof()
    return response
