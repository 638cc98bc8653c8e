"""An HTTP proxy on 127.0.0.1 that forwards to a real server and keeps each request body.

It sits between the RAG service and vLLM so a test can read the exact prompt the service
sent: the tiny model's answer is noise, so the request is where the retrieved passage must
be seen. It changes nothing; responses (status, body, content type) go back as vLLM sent
them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

__all__ = ["Recorded", "recording_proxy"]


@dataclass
class Recorded:
    """What went through the proxy: (method, path, JSON body or None), in order."""

    url: str
    requests: list[tuple[str, str, Any]] = field(default_factory=list)

    def bodies(self, path: str) -> list[Any]:
        return [body for _, seen, body in self.requests if seen == path]


@contextmanager
def recording_proxy(upstream: str) -> Iterator[Recorded]:
    recorded = Recorded(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            with lock:
                recorded.requests.append((self.command, self.path, json.loads(raw or "null")))
            headers = {"Content-Type": self.headers.get("Content-Type", "application/json")}
            if self.headers.get("Authorization"):
                headers["Authorization"] = self.headers["Authorization"]
            answer = requests.request(
                self.command, upstream + self.path, data=raw, headers=headers, timeout=120
            )
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("Content-Type", "text/plain"))
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = _forward  # noqa: N815 - http.server's naming
        do_POST = _forward  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads ``recorded``, not stderr."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorded.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorded
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
