"""Findings: what validation reports, each pinned to a file, line, column and field.

Every check in the core returns findings instead of raising, so one bad Workspace never
hides the others. The CLI renders them as text, JSON or GitHub workflow annotations.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from controller.core.documents import Document, DocumentError, FieldPath


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem (or note) about one field of one file."""

    file: str
    line: int
    column: int
    field: str
    message: str
    severity: Severity = Severity.ERROR
    code: str = "invalid"

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


def field_name(path: Sequence[str | int]) -> str:
    """``("inference", "adapters", 0, "source")`` -> ``inference.adapters[0].source``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def at(
    doc: Document,
    path: FieldPath,
    message: str,
    *,
    code: str,
    severity: Severity = Severity.ERROR,
    value: bool = True,
) -> Finding:
    """A finding about ``path`` of ``doc``, located at its value (``value=False``: its key).

    A path that is not in the file (a missing field) is located at its nearest parent's key.
    """
    where = doc.locate(path, value=value)
    return Finding(doc.path, where.line, where.column, field_name(path), message, severity, code)


def from_document_error(error: DocumentError) -> Finding:
    return Finding(error.path, error.line, error.column, "", error.message, code="yaml")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a candidate is close enough, else ``""``."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(finding.is_error for finding in findings)
