"""The controller's log output: one format, and every line redacted.

Engine layer, set up once by ``modelsync run``. Redaction happens in the formatter, after
the message, its arguments and any traceback are rendered, so a credential is hidden
whichever logger wrote it (ours, werkzeug's, the Kubernetes client's) and however it got
into the text. The secrets become known only once the settings are read, hence
``add_secrets`` after ``configure``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TextIO

from controller.core.redaction import redact

__all__ = ["RedactingFormatter", "configure"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """A Formatter whose output passes through ``core.redaction.redact``."""

    def __init__(self, fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        self.secrets: tuple[str, ...] = ()

    def add_secrets(self, secrets: Iterable[str | None]) -> None:
        self.secrets = (*self.secrets, *(s for s in secrets if s))

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def configure(level: str | int, stream: TextIO) -> RedactingFormatter:
    """Log to ``stream`` at ``level`` through a RedactingFormatter, which is returned."""
    formatter = RedactingFormatter()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return formatter
