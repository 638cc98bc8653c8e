"""What of a Workspace that failed its schema can still be checked, so every problem shows.

Pure, used by ``workspacefile`` when the schema refuses a document. The README promises
every problem of a file at once; before this, a schema error hid the semantic findings
(fix the Secret's name, push, and only then learn the preset is unknown). Here the fields
the schema refuses are cut out (an unknown key, a bad value, a mapping missing a required
key) until what is left passes; the semantic checks then run on that, and only their
findings about fields unrelated to a cut are kept, so nothing is reported twice or about
a field that was not read. The file stays invalid: its schema findings are errors.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from controller.core.documents import Document, FieldPath
from controller.core.findings import Finding, field_name
from controller.core.schemas import SchemaSet

#: Rounds of cutting: a cut can expose a required key one level up; deeper than this, give up.
MAX_ROUNDS = 4


def salvage(
    schemas: SchemaSet, kind: str, doc: Document
) -> tuple[Document, tuple[str, ...]] | None:
    """``doc`` without the fields its schema refuses, and the cut fields' names; None when the
    document itself would have to go."""
    body: Any = copy.deepcopy(doc.body)
    cut: list[FieldPath] = []
    for _ in range(MAX_ROUNDS):
        paths = schemas.invalid_paths(kind, body)
        if not paths:
            return Document(doc.path, body, doc.positions), tuple(field_name(p) for p in cut)
        # A bad list item takes its list with it: the other items keep their indexes' meaning.
        fields = {_field_of(path) for path in paths}
        for path in sorted(fields, key=len):
            if not path:
                return None
            if not any(path[: len(done)] == done for done in cut):
                _remove(body, path)
                cut.append(path)
    return None


def unrelated(findings: Iterable[Finding], cut: tuple[str, ...]) -> list[Finding]:
    """The findings about fields that are neither a cut field nor inside or above one."""
    return [f for f in findings if not any(_related(f.field, name) for name in cut)]


def _related(a: str, b: str) -> bool:
    return _within(a, b) or _within(b, a)


def _within(inner: str, outer: str) -> bool:
    if not outer or inner == outer:
        return True
    return inner.startswith(outer) and inner[len(outer)] in ".["


def _field_of(path: FieldPath) -> FieldPath:
    while path and isinstance(path[-1], int):
        path = path[:-1]
    return path


def _remove(body: Any, path: FieldPath) -> None:
    *parents, last = path
    node = body
    for part in parents:
        node = node[part]
    if isinstance(node, dict):
        node.pop(last, None)
