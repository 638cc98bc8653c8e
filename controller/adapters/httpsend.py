"""Sending a notification's request: one HTTP call, its failure named and classified.

Adapter layer, the I/O half of ``core/notifications.py`` (which builds the ``Request``).
``requests`` does the HTTP; redirects are not followed (a receiver that redirects could
send the token's request anywhere). Errors say whether another attempt may work (a
connection refused, a timeout, 429 or a 5xx) and carry the first bytes of the reply only:
the request's headers, where the token is, are never part of a message.
"""

from __future__ import annotations

import requests

from controller.core.notifications import Request

__all__ = ["DeliveryError", "send"]

_BODY_SHOWN = 200


class DeliveryError(Exception):
    """A request that did not get a 2xx; ``retryable`` says whether to try again."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def send(request: Request, timeout: float) -> int:
    """Send ``request``; its HTTP status, or DeliveryError."""
    try:
        response = requests.request(
            request.method,
            request.url,
            headers=dict(request.headers),
            data=request.body,
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.Timeout as e:
        raise DeliveryError(
            f"{request.receiver}: timed out after {timeout:g}s", retryable=True
        ) from e
    except requests.RequestException as e:
        raise DeliveryError(
            f"{request.receiver}: {type(e).__name__}: cannot reach the receiver", retryable=True
        ) from e
    if 200 <= response.status_code < 300:
        return response.status_code
    status = response.status_code
    shown = response.text[:_BODY_SHOWN].strip()
    raise DeliveryError(
        f"{request.receiver}: HTTP {status}" + (f": {shown}" if shown else ""),
        retryable=status == 429 or status >= 500,
    )
