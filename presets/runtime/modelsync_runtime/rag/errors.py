"""The RAG service's request errors, each with the HTTP status the API answers with.

The engine raises these; the HTTP layer maps them to ``{"detail": ...}`` bodies (FastAPI's
own error shape, which KAITO's service also answers with). Anything else is a bug and
stays a 500 with its traceback in the log.
"""

from __future__ import annotations

__all__ = [
    "BadRequestError",
    "ConflictError",
    "NotFoundError",
    "RagError",
    "UnavailableError",
    "UpstreamError",
]


class RagError(Exception):
    """A request the service refuses; ``status`` is its HTTP status code."""

    status = 500


class BadRequestError(RagError):
    status = 400


class NotFoundError(RagError):
    status = 404


class ConflictError(RagError):
    status = 409


class UpstreamError(RagError):
    """The inference endpoint failed or could not be reached."""

    status = 502


class UnavailableError(RagError):
    """The engine lacks what the request needs (no inference endpoint configured)."""

    status = 503
