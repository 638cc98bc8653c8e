"""Source files and the YAML documents parsed from them, with file:line for every field.

First stage of the pipeline: adapters (filesystem, Git tree) hand in ``SourceFile``s;
``parse_document`` turns each into one ``Document`` (a plain JSON-compatible mapping plus
the position of every field) or a ``DocumentError`` that says what is wrong and where;
``parse_documents`` reads a file of several ``---``-separated documents (Workspace files,
as ``kubectl apply -f`` takes them), each located in the whole file.
Nothing here reads a disk or a network.

PyYAML's libyaml binding does the parsing (safe tags only). Two guards run around it
because a clusters repo is untrusted input: a nesting-depth pre-scan over the event
stream (libyaml's composer recurses and crashes the interpreter on very deep input), and
a budget on the number of nodes materialised, which stops alias bombs
("billion laughs") before they expand.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

#: Files larger than this are refused before parsing (a Workspace is a few hundred bytes).
MAX_FILE_BYTES = 256 * 1024
#: Deeper nesting than any Kubernetes manifest needs.
MAX_DEPTH = 64
#: Nodes materialised per document, aliases expanded; far above any real manifest.
MAX_NODES = 20_000

FieldPath = tuple[str | int, ...]

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL_TAG = "tag:yaml.org,2002:null"
#: Tags whose Python values are not JSON types: kept as the text the author wrote.
_TEXT_TAGS = frozenset({"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary"})


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file of a clusters repo as an adapter read it.

    ``path`` is repo-relative with ``/`` separators. Exactly one of ``data`` and ``error``
    is set: ``error`` says why the adapter would not hand the bytes over (a symlink that
    leaves the repo, a file over ``MAX_FILE_BYTES``, an unreadable blob).
    """

    path: str
    data: bytes | None = None
    error: str | None = None


class Location(NamedTuple):
    """1-based line and column. A tuple, not a dataclass: a Workspace file makes about 60 of
    these, and a frozen dataclass's __init__ was a tenth of parsing time."""

    line: int
    column: int


class Span(NamedTuple):
    """Where a field's key (or a list item) and its value start."""

    key: Location
    value: Location


@dataclass(frozen=True)
class Document:
    """One YAML mapping and where each of its fields was written."""

    path: str
    body: dict[str, Any]
    positions: Mapping[FieldPath, Span] = field(repr=False)

    def locate(self, path: Sequence[str | int], *, value: bool = False) -> Location:
        """Position of ``path`` (its key, or its value), or of its nearest existing ancestor."""
        key = tuple(path)
        while key and key not in self.positions:
            key, value = key[:-1], False
        span = self.positions.get(key)
        if span is None:
            return Location(1, 1)
        return span.value if value else span.key


@dataclass(frozen=True, slots=True)
class DocumentError:
    """Why a file yields no document, with the position that explains it."""

    path: str
    message: str
    line: int = 1
    column: int = 1


class _RefusedError(Exception):
    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else 1
        self.column = mark.column + 1 if mark is not None else 1


def parse_document(source: SourceFile) -> Document | DocumentError:
    """Parse one file into exactly one mapping document, or say why not."""
    parsed = parse_documents(source)
    if isinstance(parsed, DocumentError):
        return parsed
    if len(parsed) > 1:
        second = parsed[1].locate(())
        return DocumentError(
            source.path,
            f"file holds {len(parsed)} YAML documents; put one per file",
            second.line,
            second.column,
        )
    return parsed[0]


def parse_documents(source: SourceFile) -> list[Document] | DocumentError:
    """Parse one file into its mapping documents (at least one), or say why not."""
    if source.error is not None:
        return DocumentError(source.path, source.error)
    if control := _control_character(source.path):
        # Paths name clusters, namespaces and files downstream; a newline or escape in one
        # would show as a different name in a review, a log line or a terminal.
        return DocumentError(
            source.path, f"file path holds a control character ({control!r}); rename it"
        )
    data = source.data or b""
    if len(data) > MAX_FILE_BYTES:
        return DocumentError(
            source.path, f"file is {len(data)} bytes, over the {MAX_FILE_BYTES}-byte limit"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        return DocumentError(
            source.path, f"not UTF-8 text (byte 0x{data[e.start]:02x})", line, column
        )
    try:
        _check_depth(text)
        nodes = list(yaml.compose_all(text, Loader=_Loader))
        return _documents(source.path, nodes)
    except _RefusedError as e:
        return DocumentError(source.path, str(e), e.line, e.column)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        message = ": ".join(part for part in (e.context, e.problem) if part) or "invalid YAML"
        line = mark.line + 1 if mark is not None else 1
        column = mark.column + 1 if mark is not None else 1
        return DocumentError(source.path, f"invalid YAML: {message}", line, column)
    except yaml.YAMLError as e:
        return DocumentError(source.path, f"invalid YAML: {e}")


def _check_depth(text: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _RefusedError(f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _documents(path: str, nodes: list[yaml.Node]) -> list[Document]:
    # "---" at the end of a file opens an empty document; kubectl ignores those too.
    nodes = [node for node in nodes if not _is_empty(node)]
    if not nodes:
        raise _RefusedError("file holds no YAML document")
    documents: list[Document] = []
    budget = MAX_NODES
    for root in nodes:
        if not isinstance(root, yaml.MappingNode):
            kind = "a list" if isinstance(root, yaml.SequenceNode) else "a scalar"
            raise _RefusedError(f"document is {kind}, not a mapping", root.start_mark)
        # One budget for the whole file: several documents must not multiply it.
        builder = _Builder(budget)
        body = builder.build(root, ())
        assert isinstance(body, dict)
        budget = builder.budget
        documents.append(Document(path, body, builder.positions))
    return documents


class _Builder:
    """Turns a composed node tree into JSON-compatible values and a position index."""

    def __init__(self, budget: int = MAX_NODES) -> None:
        self.positions: dict[FieldPath, Span] = {}
        self.budget = budget
        self._scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        self._charge(node)
        where = _location(node)
        key_where = self.positions[path].key if path in self.positions else where
        self.positions[path] = Span(key_where, where)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag in _TEXT_TAGS:
            return node.value
        return self._scalars.construct_object(node)

    def _charge(self, node: yaml.Node) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise _RefusedError(
                f"document expands to more than {MAX_NODES} nodes (a YAML alias bomb?)",
                node.start_mark,
            )

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, Location] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                for source in _merge_sources(value_node):
                    # A merged mapping is expanded again at every use, like an alias; charging
                    # it here is what stops nested `<<: [*a, *a, ...]` of empty mappings.
                    self._charge(source)
                    for key, value in self._mapping(source, path).items():
                        merged.setdefault(key, value)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _RefusedError("mapping keys must be plain strings", key_node.start_mark)
            key = str(self._scalars.construct_object(key_node))
            if key in seen:
                first = seen[key]
                raise _RefusedError(
                    f"duplicate key {key!r} (first at line {first.line})", key_node.start_mark
                )
            seen[key] = _location(key_node)
            self.positions[(*path, key)] = Span(seen[key], seen[key])
            result[key] = self.build(value_node, (*path, key))
        for key, value in merged.items():
            result.setdefault(key, value)
        return result


def _merge_sources(node: yaml.Node) -> Iterator[yaml.MappingNode]:
    if isinstance(node, yaml.MappingNode):
        yield node
    elif isinstance(node, yaml.SequenceNode) and all(
        isinstance(item, yaml.MappingNode) for item in node.value
    ):
        yield from node.value
    else:
        raise _RefusedError("a merge key (<<) must point at a mapping", node.start_mark)


def _control_character(text: str) -> str | None:
    return next((c for c in text if c < " " or "\x7f" <= c <= "\x9f"), None)


def _is_empty(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG and node.value == ""


def _location(node: yaml.Node) -> Location:
    return Location(node.start_mark.line + 1, node.start_mark.column + 1)
