"""The controller's HTTP endpoints: a werkzeug WSGI app served by waitress.

``/healthz`` (the loop is alive), ``/readyz`` (the first pass ran, or this replica is a
standby), ``/metrics`` (Prometheus), ``/status`` (JSON), ``/`` (the same status as an HTML
page, ``page.py``), ``POST /webhook/github`` (HMAC
SHA-256 signed push events) and ``POST /webhook/generic`` (bearer token). Webhooks only
wake the loop; the pass itself always runs on the loop's thread.

The webhooks are the only endpoints meant for the outside (a Git host), and the others
have no auth, so they can be split: an App serves a chosen set of ``ENDPOINTS`` and
``modelsync run`` puts the webhooks on their own listener when ``webhookListen`` is set.

Waitress rather than werkzeug's development server: that one starts a thread per
connection with no timeout and no cap (4,000 half-open connections, 4,000 threads).
Waitress keeps idle connections in one select loop, runs requests on a fixed pool of
threads, closes connections idle past ``channel_timeout`` and stops accepting at
``connection_limit`` until some close.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, cast

from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from controller.core.webhooks import (
    MAX_BODY_BYTES,
    Deliveries,
    github_decision,
    token_valid,
)
from controller.engine import page
from controller.engine.loop import Controller

log = logging.getLogger(__name__)
_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"
_HTML = "text/html; charset=utf-8"
#: Endpoint names an App can serve: the internal ones and the webhooks.
INTERNAL = ("healthz", "readyz", "metrics", "status", "page")
WEBHOOKS = ("github", "generic")
ENDPOINTS = INTERNAL + WEBHOOKS
_RULES = {
    "healthz": ("/healthz", "GET"),
    "readyz": ("/readyz", "GET"),
    "metrics": ("/metrics", "GET"),
    "status": ("/status", "GET"),
    "page": ("/", "GET"),
    "github": ("/webhook/github", "POST"),
    "generic": ("/webhook/generic", "POST"),
}


@dataclass(frozen=True)
class WebhookSecrets:
    github: bytes = b""
    token: bytes = b""

    def __repr__(self) -> str:  # never print the secrets
        return (
            f"WebhookSecrets(github={'set' if self.github else 'unset'}, "
            f"token={'set' if self.token else 'unset'})"
        )


class App:
    """The WSGI application over one Controller, serving ``endpoints`` (all by default)."""

    def __init__(
        self,
        controller: Controller,
        secrets: WebhookSecrets,
        *,
        followed_ref: str | None,
        stale_after: float,
        endpoints: Collection[str] = ENDPOINTS,
    ) -> None:
        unknown = set(endpoints) - set(ENDPOINTS)
        if unknown:
            raise ValueError(f"unknown endpoints: {sorted(unknown)}")
        self.controller = controller
        self.secrets = secrets
        self.followed_ref = followed_ref
        self.stale_after = stale_after
        self.deliveries = Deliveries()
        self.urls = Map(
            [
                Rule(_RULES[name][0], endpoint=name, methods=[_RULES[name][1]])
                for name in ENDPOINTS
                if name in endpoints
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_BODY_BYTES
        try:
            endpoint, _ = self.urls.bind_to_environ(environ).match()
            response: Response = getattr(self, f"on_{endpoint}")(request)
        except HTTPException as e:
            response = _text(e.code or 500, e.description or e.name)
        return response(environ, start_response)

    def on_healthz(self, _: Request) -> Response:
        c = self.controller
        late = c.clock() - c.heartbeat > self.stale_after
        if not c.alive or late:
            return _text(503, "reconcile loop stopped" if not c.alive else "reconcile loop stuck")
        return _text(200, "ok")

    def on_readyz(self, _: Request) -> Response:
        c = self.controller
        if c.leadership.is_leader and c.last is None:
            return _text(503, "first pass not done yet")
        return _text(200, "ok")

    def on_metrics(self, _: Request) -> Response:
        return Response(self.controller.exposition(), 200, content_type=_PROMETHEUS)

    def on_status(self, _: Request) -> Response:
        return Response(
            json.dumps(self.controller.snapshot(), indent=1), 200, content_type="application/json"
        )

    def on_page(self, _: Request) -> Response:
        html = page.render(self.controller.snapshot())
        return Response(html, 200, headers=dict(page.HEADERS), content_type=_HTML)

    def on_github(self, request: Request) -> Response:
        if not self.secrets.github:
            raise NotFound("GitHub webhook not enabled (no secret configured)")
        body = request.get_data(cache=False)
        decision = github_decision(
            secret=self.secrets.github,
            body=body,
            signature=request.headers.get("X-Hub-Signature-256"),
            event=request.headers.get("X-GitHub-Event"),
            followed_ref=self.followed_ref,
        )
        if decision.trigger:
            delivery = request.headers.get("X-GitHub-Delivery")
            if self.deliveries.first_time(delivery):
                self.controller.trigger(f"github push {delivery or ''}".strip())
            else:
                return _text(202, "delivery already handled")
        if decision.status == 401:
            log.warning(
                "rejected a GitHub webhook from %s: %s", request.remote_addr, decision.message
            )
        return _text(decision.status, decision.message)

    def on_generic(self, request: Request) -> Response:
        if not self.secrets.token:
            raise NotFound("generic webhook not enabled (no token configured)")
        header = request.headers.get("Authorization", "")
        presented = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        if not token_valid(self.secrets.token, presented):
            log.warning("rejected a generic webhook from %s", request.remote_addr)
            return _text(401, "invalid or missing bearer token")
        self.controller.trigger("generic webhook")
        return _text(202, "fetching")


def build_servers(
    controller: Controller,
    secrets: WebhookSecrets,
    *,
    listen: str,
    webhook_listen: str = "",
    followed_ref: str | None,
    stale_after: float,
) -> list[Server]:
    """One listener serving every endpoint; or, with ``webhook_listen``, the webhooks alone
    there (the only port a Git host needs to reach) and the rest on ``listen``."""

    def app(endpoints: Collection[str]) -> App:
        return App(
            controller,
            secrets,
            followed_ref=followed_ref,
            stale_after=stale_after,
            endpoints=endpoints,
        )

    if not webhook_listen:
        return [Server(app(ENDPOINTS), listen)]
    return [Server(app(INTERNAL), listen), Server(app(WEBHOOKS), webhook_listen)]


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status, content_type="text/plain; charset=utf-8")


class Server:
    """Serves an App on host:port from a background thread (waitress, see above)."""

    def __init__(
        self,
        app: App,
        listen: str,
        *,
        threads: int = 4,
        connection_limit: int = 256,
        channel_timeout: int = 10,
    ) -> None:
        host, _, port = listen.rpartition(":")
        self._map: dict[int, socket.socket] = {}  # this server's sockets, to close them
        server = create_server(
            app,
            self._map,
            host=host or "0.0.0.0",  # noqa: S104 - a pod listens on all its interfaces
            port=int(port),
            threads=threads,
            connection_limit=connection_limit,
            channel_timeout=channel_timeout,
            cleanup_interval=max(1, channel_timeout // 2),
            max_request_body_size=MAX_BODY_BYTES,
            ident="modelsync",
            expose_tracebacks=False,
        )
        assert isinstance(server, BaseWSGIServer)  # one host:port gives one server
        assert server.socket is not None
        self._server = server
        self._port = int(server.socket.getsockname()[1])  # the bound one when port is 0
        self._thread = threading.Thread(
            target=self._server.run, name=f"modelsync-http-{port}", daemon=True
        )

    @property
    def port(self) -> int:
        return self._port

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # Closing the sockets from this thread would race the select loop; the trigger runs
        # the close on the loop's own thread, and the loop ends once nothing is left open.
        server = self._server
        if self._thread.is_alive():
            # types-waitress declares ``trigger`` an int; it is a waitress.trigger.trigger.
            trigger: Any = cast(Any, server).trigger
            # OSError: the trigger is closed, so the loop is already closing everything down.
            with contextlib.suppress(OSError):
                trigger.pull_trigger(lambda: wasyncore.close_all(self._map))
            self._thread.join(5)
        if not self._thread.is_alive():
            wasyncore.close_all(self._map)  # what is left, if the loop ended on its own
        server.task_dispatcher.shutdown()
