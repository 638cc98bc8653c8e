"""The controller's log output: text or JSON lines, and every line redacted.

Engine layer, set up once by ``modelsync run``. Redaction happens in the formatter, after
the message, its arguments and any traceback are rendered, so a credential is hidden
whichever logger wrote it (ours, werkzeug's, the Kubernetes client's) and however it got
into the text. The secrets become known only once the settings are read, hence
``add_secrets`` after ``configure``.

``--log-format json`` writes one JSON object a line (``time``, ``level``, ``logger``,
``message``, then the structured fields a call passed in ``extra``: ``cluster``,
``workspace``, ``file``, ``commit``, ``reason``, ...), the shape log collectors (Loki,
Elasticsearch, Cloud Logging) index without parsing rules. Each string value is redacted
before it is encoded, so a secret is hidden however JSON would have escaped it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any, TextIO

from controller.core.redaction import redact, redact_data

__all__ = ["FIELDS", "FORMATS", "JsonFormatter", "RedactingFormatter", "configure"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
#: The structured fields a JSON line carries when a call passes them in ``extra``.
FIELDS = ("cluster", "workspace", "namespace", "file", "commit", "reason", "kind", "version")


class RedactingFormatter(logging.Formatter):
    """A Formatter whose output passes through ``core.redaction.redact``."""

    def __init__(self, fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        self.secrets: tuple[str, ...] = ()

    def add_secrets(self, secrets: Iterable[str | None]) -> None:
        self.secrets = (*self.secrets, *(s for s in secrets if s))

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


class JsonFormatter(RedactingFormatter):
    """One JSON object a line; every string in it redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(redact_data(line, self.secrets), ensure_ascii=False, default=str)


def _rfc3339(created: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{stamp}.{int(created % 1 * 1000):03d}Z"


def configure(level: str | int, stream: TextIO, fmt: str = "text") -> RedactingFormatter:
    """Log to ``stream`` at ``level`` in ``fmt`` (text or json); the formatter is returned."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    formatter = JsonFormatter() if fmt == "json" else RedactingFormatter()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return formatter
