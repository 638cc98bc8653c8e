"""A notification receiver on 127.0.0.1 that records every request it gets.

Stands in for GitHub's commit-status API and for a Slack-style webhook: it answers each
POST with the status the test sets (201 by default, GitHub's answer to a new status) and
keeps method, path, headers and body. ``statuses`` can script a sequence of answers (a
receiver failing with 503 before it recovers). ``hold`` delays every answer: a receiver
that hangs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Received", "Receiver", "receiver"]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order; then 201
    hold: float = 0.0
    reply: bytes = b'{"id": 1}'
    released: threading.Event = field(default_factory=threading.Event)

    def on(self, path_prefix: str) -> list[Received]:
        return [r for r in list(self.requests) if r.path.startswith(path_prefix)]


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A started receiver; stopped (and any held request released) on exit."""
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
            if state.hold:
                state.released.wait(state.hold)
            status = state.statuses.pop(0) if state.statuses else 201
            reply = state.reply
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
