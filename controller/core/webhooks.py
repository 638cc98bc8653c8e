"""Webhook decisions: is this request genuine, and should it trigger a fetch now?

GitHub signs each delivery with HMAC SHA-256 over the raw body (``X-Hub-Signature-256:
sha256=<hex>``); a generic caller presents a bearer token. Both are compared in constant
time. A genuine push triggers a fetch only when it moves the ref the controller follows;
everything else is acknowledged and ignored. Pure: the HTTP server feeds bytes and headers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import OrderedDict
from dataclasses import dataclass

#: Larger bodies are refused before hashing (GitHub caps payloads at 25 MB; pushes of a
#: clusters repo are far smaller).
MAX_BODY_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Decision:
    status: int  # HTTP status to answer
    trigger: bool
    message: str


def github_signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    if not secret or not header or not header.startswith("sha256="):
        return False
    # compare_digest refuses str with non-ASCII characters (TypeError: a 500 from any
    # caller who sends one); as bytes, anything the client sent is just unequal.
    return hmac.compare_digest(github_signature(secret, body).encode(), _bytes(header.strip()))


def token_valid(expected: bytes, presented: str | None) -> bool:
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.strip(), _bytes(presented.strip()))


def _bytes(header: str) -> bytes:
    # Header values arrive decoded as latin-1 (WSGI); surrogates from other decoders too.
    return header.encode("utf-8", "surrogateescape")


class Deliveries:
    """Remembers recent delivery ids so a redelivered push is not acted on twice."""

    def __init__(self, size: int = 512) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def first_time(self, delivery: str | None) -> bool:
        if not delivery:
            return True
        if delivery in self._seen:
            return False
        self._seen[delivery] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


def github_decision(
    *,
    secret: bytes,
    body: bytes,
    signature: str | None,
    event: str | None,
    followed_ref: str | None,
) -> Decision:
    """What to do with a GitHub delivery; ``followed_ref`` is ``refs/heads/<branch>`` or
    ``refs/tags/<tag>``, or None when the controller is pinned to a commit."""
    if not signature_valid(secret, body, signature):
        return Decision(401, False, "invalid or missing X-Hub-Signature-256")
    if event == "ping":
        return Decision(200, False, "pong")
    if event != "push":
        return Decision(202, False, f"ignored event {event!r}")
    try:
        payload = json.loads(body)
    except ValueError:
        return Decision(400, False, "body is not JSON")
    ref = payload.get("ref") if isinstance(payload, dict) else None
    if followed_ref is None:
        return Decision(202, False, "pinned to a commit; pushes do not move it")
    if ref != followed_ref:
        return Decision(202, False, f"push to {ref}, following {followed_ref}")
    return Decision(202, True, f"push to {ref}: fetching")
