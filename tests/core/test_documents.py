"""Parsing untrusted YAML: one clear error with a position, never a traceback or a hang."""

from __future__ import annotations

import pytest

from controller.core.documents import (
    MAX_FILE_BYTES,
    MAX_NODES,
    Document,
    DocumentError,
    Location,
    SourceFile,
    parse_document,
)
from controller.core.findings import Severity
from tests.core.conftest import Validate, workspace


def parse(text: str | bytes) -> Document | DocumentError:
    data = text.encode() if isinstance(text, str) else text
    return parse_document(SourceFile("w.yaml", data))


def error(text: str | bytes) -> DocumentError:
    result = parse(text)
    assert isinstance(result, DocumentError), result
    return result


def test_a_mapping_parses_with_positions_of_keys_and_items() -> None:
    doc = parse("a: 1\nb:\n  c: [x, y]\n  d: {e: true}\n")
    assert isinstance(doc, Document)
    assert doc.body == {"a": 1, "b": {"c": ["x", "y"], "d": {"e": True}}}
    assert doc.locate(("b", "c")) == Location(3, 3)
    assert doc.locate(("b", "c", 1)) == Location(3, 10)
    assert doc.locate(("b", "d", "e")) == Location(4, 7)


def test_locate_falls_back_to_the_nearest_existing_parent() -> None:
    doc = parse("a:\n  b: 1\n")
    assert isinstance(doc, Document)
    assert doc.locate(("a", "b", "missing", 0)) == Location(2, 3)
    assert doc.locate(("a", "missing")) == Location(1, 1)


def test_timestamps_and_binary_stay_text() -> None:
    doc = parse("when: 2024-01-01\nblob: !!binary aGk=\n")
    assert isinstance(doc, Document)
    assert doc.body == {"when": "2024-01-01", "blob": "aGk="}


def test_merge_keys_fill_in_without_overriding() -> None:
    doc = parse("base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n")
    assert isinstance(doc, Document)
    assert doc.body["derived"] == {"x": 1, "y": 3}


def test_a_trailing_document_separator_is_ignored() -> None:
    assert isinstance(parse("a: 1\n---\n"), Document)


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("a: 1\nb: 2\na: 3\n", "duplicate key 'a' (first at line 1)", 3),
        ("a: 1\n---\nb: 2\n", "file holds 2 YAML documents", 3),
        ("- a\n- b\n", "document is a list, not a mapping", 1),
        ("just text\n", "document is a scalar, not a mapping", 1),
        ("", "file holds no YAML document", 1),
        ("# only a comment\n", "file holds no YAML document", 1),
        ("a: [1, 2\nb: 3\n", "invalid YAML", 2),
        ("a:\n\tb: 1\n", "invalid YAML", 2),
        ("a: *nowhere\n", "invalid YAML", 1),
        ("[1, 2]: x\n", "mapping keys must be plain strings", 1),
        ("a: &x 1\nb:\n  <<: *x\n", "a merge key (<<) must point at a mapping", 1),
    ],
)
def test_malformed_input_gives_one_located_error(text: str, message: str, line: int) -> None:
    found = error(text)
    assert message in found.message
    assert found.line == line
    assert found.path == "w.yaml"


def test_non_utf8_bytes_are_located() -> None:
    found = error(b"a: 1\nb: caf\xe9\n")
    assert found.message == "not UTF-8 text (byte 0xe9)"
    assert (found.line, found.column) == (2, 7)


def test_a_utf8_byte_order_mark_is_fine() -> None:
    assert isinstance(parse(b"\xef\xbb\xbfa: 1\n"), Document)


def test_oversized_files_are_refused_before_parsing() -> None:
    found = error(b"a: " + b"x" * MAX_FILE_BYTES)
    assert "over the" in found.message


DEEP = "[" * 100_000 + "]" * 100_000


def test_deep_nesting_is_refused_without_crashing_the_interpreter() -> None:
    # libyaml's composer recurses: 100k levels would overflow the C stack. Who refuses it
    # (our pre-scan or libyaml's own depth limit, PyYAML 6.0.4 on) and in what words is not
    # the point: it is one error in the first line, and this process is still alive.
    found = error(DEEP)
    assert found.path == "w.yaml"
    assert found.line == 1
    assert found.column is not None


def test_deep_nesting_in_one_file_leaves_the_others_validated(validate: Validate) -> None:
    good = workspace(
        "resource: {instanceType: Standard_NC24ads_A100_v4}\n"
        "inference: {preset: {name: phi-3.5-mini-instruct}}\n"
    )
    report = validate({"clusters/test/deep.yaml": DEEP, "clusters/test/good.yaml": good})
    [finding] = report.findings
    assert (finding.file, finding.line, finding.severity) == (
        "clusters/test/deep.yaml",
        1,
        Severity.ERROR,
    )
    results = {r.path: r for r in report.clusters[0].workspaces}
    assert not results["clusters/test/deep.yaml"].valid
    assert results["clusters/test/good.yaml"].valid
    assert results["clusters/test/good.yaml"].placement is not None


def test_an_alias_bomb_is_stopped_by_the_node_budget() -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    found = error("\n".join(lines) + "\n")
    assert f"more than {MAX_NODES} nodes" in found.message


def test_an_adapter_error_passes_through_as_a_document_error() -> None:
    result = parse_document(SourceFile("x.yaml", error="symlink to /etc/passwd leaves the repo"))
    assert result == DocumentError("x.yaml", "symlink to /etc/passwd leaves the repo")


def test_a_merge_key_bomb_is_stopped_by_the_node_budget() -> None:
    # 548 bytes: empty mappings merged nine times a level never build a value, so only
    # charging the merge itself stops the 9**11 expansion.
    lines = ["a: &a {}"]
    for prev, name in zip("abcdefghijk", "bcdefghijkl", strict=True):
        lines.append(f"{name}: &{name} {{<<: [" + ", ".join([f"*{prev}"] * 9) + "]}")
    found = error("\n".join(lines) + "\n")
    assert f"more than {MAX_NODES} nodes" in found.message


@pytest.mark.parametrize(
    "path", ["clusters/prod/w.yaml\n", "clusters/prod\n/w.yaml", "a\x1b[2J.yaml"]
)
def test_a_path_with_a_control_character_is_refused(path: str) -> None:
    result = parse_document(SourceFile(path, data=b"a: 1\n"))
    assert isinstance(result, DocumentError)
    assert "control character" in result.message
