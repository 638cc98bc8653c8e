"""The controller's HTTP endpoints, served by werkzeug in its own threads.

``/healthz`` (the loop is alive), ``/readyz`` (the first pass ran, or this replica is a
standby), ``/metrics`` (Prometheus), ``/status`` (JSON), ``POST /webhook/github`` (HMAC
SHA-256 signed push events) and ``POST /webhook/generic`` (bearer token). Webhooks only
wake the loop; the pass itself always runs on the loop's thread.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from controller.core.webhooks import (
    MAX_BODY_BYTES,
    Deliveries,
    github_decision,
    token_valid,
)
from controller.engine.loop import Controller

log = logging.getLogger(__name__)
_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


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
    """The WSGI application over one Controller."""

    def __init__(
        self,
        controller: Controller,
        secrets: WebhookSecrets,
        *,
        followed_ref: str | None,
        stale_after: float,
    ) -> None:
        self.controller = controller
        self.secrets = secrets
        self.followed_ref = followed_ref
        self.stale_after = stale_after
        self.deliveries = Deliveries()
        self.urls = Map(
            [
                Rule("/healthz", endpoint="healthz", methods=["GET"]),
                Rule("/readyz", endpoint="readyz", methods=["GET"]),
                Rule("/metrics", endpoint="metrics", methods=["GET"]),
                Rule("/status", endpoint="status", methods=["GET"]),
                Rule("/webhook/github", endpoint="github", methods=["POST"]),
                Rule("/webhook/generic", endpoint="generic", methods=["POST"]),
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


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status, content_type="text/plain; charset=utf-8")


class Server:
    """Serves an App on host:port from a background thread (werkzeug's threaded WSGI server,
    stdlib socketserver underneath: plenty for probes, scrapes and webhooks)."""

    def __init__(self, app: App, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        bind = host or "0.0.0.0"  # noqa: S104 - a pod listens on all its interfaces
        # One log line per probe and scrape is noise; rejected webhooks are logged by App.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = make_server(bind, int(port), app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="modelsync-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
