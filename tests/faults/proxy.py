"""A fault-injecting HTTPS proxy in front of the local control plane's kube-apiserver.

Test support for tests/faults. The proxy terminates TLS with the API server's own serving
certificate (same CA, same 127.0.0.1 name, so a kubeconfig pointing at it needs nothing
else changed), speaks HTTP/1.1 to the client (it offers no h2 by ALPN, so Go's client-go
falls back as it does behind any HTTP/1.1 proxy) and re-originates every request to the
real API server as the administrator. Most requests pass through untouched; a ``Rule``
picks some of them by method, path and the count of matching calls, and does one of:

- ``Fail(status)``: answer with a Kubernetes ``Status`` of that code (the request never
  reaches the API server);
- ``Delay(seconds)``: wait, then forward;
- ``Hang(seconds)``: hold the request unanswered until the client gives up (its timeout,
  or the process was killed) or the rules are cleared, then drop the connection; or, after
  ``seconds``, answer 504 as kube-apiserver does past its own ``--request-timeout`` (60s by
  default). Tests wait for ``rule.hit`` to know the controller is paused at that step;
- ``Reset()``: drop the connection with a TCP reset, unanswered.

Every request is logged (method, path, status) so a test can say which verbs it faulted.
Only watch-style streaming answers (no length) are relayed chunk by chunk; the rest whole.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.kubeapi_faults import STATUS_REASONS

#: Hop-by-hop headers (RFC 9110 section 7.6.1): never relayed.
_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
    | {"proxy-connection"}
)
#: The longest a hung request is held when nobody ends it (a test's safety net).
MAX_HANG = 120.0


@dataclass(frozen=True)
class Fail:
    status: int
    message: str = "injected by the fault proxy"


@dataclass(frozen=True)
class Delay:
    seconds: float


@dataclass(frozen=True)
class Hang:
    seconds: float | None = None  # None: no answer at all (held until MAX_HANG)


@dataclass(frozen=True)
class Reset:
    pass


Action = Fail | Delay | Hang | Reset


@dataclass
class Rule:
    """``action`` on matching requests number ``nth`` .. ``nth + times - 1`` (1-based);
    ``times=None``: every match from ``nth`` on. ``agent`` (a regular expression searched
    in the User-Agent) picks one client: ``Helm/`` is the Helm SDK, ``OpenAPI-Generator``
    the controller's own Kubernetes client."""

    method: str | None
    path: str
    action: Action
    nth: int = 1
    times: int | None = 1
    agent: str = ""
    seen: int = 0
    applied: int = 0
    hit: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)

    def take(self, method: str, path: str, agent: str) -> bool:
        """Count a request; True when this one gets the action."""
        if self.method is not None and self.method != method:
            return False
        if not self._pattern.search(path) or not re.search(self.agent, agent):
            return False
        self.seen += 1
        last = None if self.times is None else self.nth + self.times - 1
        if self.seen < self.nth or (last is not None and self.seen > last):
            return False
        self.applied += 1
        self.hit.set()
        return True


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    status: int  # 0: no answer (hung or reset)
    agent: str


class FaultProxy(ThreadingHTTPServer):
    """The proxy; ``url`` is what a kubeconfig's ``server:`` should say."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, upstream: str, pki: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream.removeprefix("https://")
        serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        serving.load_cert_chain(pki / "apiserver.crt", pki / "apiserver.key")
        serving.set_alpn_protocols(["http/1.1"])
        self.serving = serving
        client = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        client.load_cert_chain(pki / "admin.crt", pki / "admin.key")
        self.client = client
        self.rules: list[Rule] = []
        self.log: list[Logged] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def add(self, rule: Rule) -> Rule:
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Drop every rule and let hung requests go (their connections are dropped)."""
        with self.lock:
            rules, self.rules = self.rules, []
        for rule in rules:
            rule.released.set()

    def decide(self, method: str, path: str, agent: str) -> tuple[Rule, Action] | None:
        with self.lock:
            for rule in self.rules:
                if rule.take(method, path, agent):
                    return rule, rule.action
        return None

    def record(self, entry: Logged) -> None:
        with self.lock:
            self.log.append(entry)

    def get_request(self) -> tuple[socket.socket, object]:
        raw, address = super().get_request()
        # The handshake happens on the handler's thread: a stalled client cannot block accept.
        wrapped = self.serving.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.clear()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FaultProxy
    protocol_version = "HTTP/1.1"
    _upstream: http.client.HTTPSConnection | None = None

    def setup(self) -> None:
        self.request.settimeout(MAX_HANG)
        try:
            self.request.do_handshake()
        except (OSError, ssl.SSLError):
            self.close_connection = True
        super().setup()

    def finish(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
        super().finish()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the scenario reads ``FaultProxy.log``."""

    def do_GET(self) -> None:
        self._proxy()

    def do_POST(self) -> None:
        self._proxy()

    def do_PUT(self) -> None:
        self._proxy()

    def do_PATCH(self) -> None:
        self._proxy()

    def do_DELETE(self) -> None:
        self._proxy()

    def _proxy(self) -> None:
        path = self.path.partition("?")[0]
        body = self._body()
        agent = self.headers.get("User-Agent", "")
        decided = self.server.decide(self.command, path, agent)
        action = decided[1] if decided else None
        if isinstance(action, Delay):
            time.sleep(action.seconds)
        elif isinstance(action, Fail):
            self.server.record(Logged(self.command, path, action.status, agent))
            self._status(action)
            return
        elif isinstance(action, Hang) and decided is not None:
            answered = self._hang(decided[0], action.seconds)
            if answered:
                self._status(Fail(504, "Timeout: request did not complete within the timeout"))
            else:
                self._reset()
            self.server.record(Logged(self.command, path, 504 if answered else 0, agent))
            return
        elif isinstance(action, Reset):
            self.server.record(Logged(self.command, path, 0, agent))
            self._reset()
            return
        try:
            status = self._forward(body)
        except (OSError, http.client.HTTPException):
            status = 0
            self._reset()
        self.server.record(Logged(self.command, path, status, agent))

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self, body: bytes) -> int:
        if self._upstream is None:
            self._upstream = http.client.HTTPSConnection(
                self.server.upstream, context=self.server.client, timeout=MAX_HANG
            )
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        headers["Content-Length"] = str(len(body))
        # Authentication is the proxy's own (the administrator's certificate).
        headers.pop("Authorization", None)
        try:
            self._upstream.request(self.command, self.path, body=body, headers=headers)
            answer = self._upstream.getresponse()
        except (OSError, http.client.HTTPException):
            self._upstream.close()
            self._upstream = None
            raise
        self.send_response_only(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in _HOP and name.lower() != "content-length":
                self.send_header(name, value)
        length = answer.getheader("Content-Length")
        if answer.status in (204, 304) or answer.status < 200:  # no body, by definition
            self.end_headers()
        elif length is not None:
            payload = answer.read()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        else:  # a watch: relay each piece as it comes
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while piece := answer.read1(65536):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        return answer.status

    def _status(self, fail: Fail) -> None:
        reason = STATUS_REASONS.get(fail.status, "InternalError")
        payload = json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": fail.message,
                "reason": reason,
                "code": fail.status,
            }
        ).encode()
        self.send_response_only(fail.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _hang(self, rule: Rule, seconds: float | None) -> bool:
        """Hold until released or the client hangs up (False), or ``seconds`` pass (True)."""
        deadline = time.monotonic() + (MAX_HANG if seconds is None else seconds)
        connection: socket.socket = self.request
        while not rule.released.wait(0.05):
            if time.monotonic() >= deadline:
                return seconds is not None
            # An HTTP/1.1 client sends nothing more while it waits for an answer: anything
            # readable now is its close (a TLS alert or FIN).
            readable, _, _ = select.select([connection], [], [], 0)
            if readable:
                return False
        return False

    def _reset(self) -> None:
        self.close_connection = True
        connection: socket.socket = self.request
        try:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            return
