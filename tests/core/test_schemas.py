"""Inlining local ``$ref``s: the compiled schema validates exactly as the one in schemas/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from controller.core.schemas import inline_local_refs

SCHEMAS = sorted((Path(__file__).resolve().parents[2] / "schemas").glob("*.schema.json"))


def refs(node: Any) -> int:
    return json.dumps(node).count('"$ref"')


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.name)
def test_the_shipped_schemas_inline_completely(path: Path) -> None:
    schema = json.loads(path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)  # SchemaSet trusts what ships
    inlined = inline_local_refs(schema)
    assert refs(inlined) == 0
    jsonschema.Draft202012Validator.check_schema(inlined)


def test_a_recursive_definition_keeps_its_ref_and_still_validates() -> None:
    schema = {
        "$defs": {"tree": {"type": "object", "properties": {"child": {"$ref": "#/$defs/tree"}}}},
        "$ref": "#/$defs/tree",
    }
    inlined = inline_local_refs(schema)
    assert refs(inlined) >= 1  # the cycle is cut, not unrolled forever
    validator = jsonschema.Draft202012Validator(inlined)
    assert validator.is_valid({"child": {"child": {}}})
    assert not validator.is_valid({"child": {"child": 3}})


def test_a_ref_beside_a_validating_keyword_is_left_alone() -> None:
    schema = {
        "$defs": {"small": {"type": "integer", "maximum": 3}},
        "properties": {
            "a": {"$ref": "#/$defs/small", "description": "annotated"},
            "b": {"$ref": "#/$defs/small", "minimum": 2},
        },
    }
    inlined = inline_local_refs(schema)
    assert inlined["properties"]["a"] == {
        "type": "integer",
        "maximum": 3,
        "description": "annotated",
    }
    assert inlined["properties"]["b"] == {"$ref": "#/$defs/small", "minimum": 2}
    validator = jsonschema.Draft202012Validator(inlined)
    assert not validator.is_valid({"b": 1})
    assert not validator.is_valid({"b": 4})


WORKSPACES = [
    {"kind": "Workspace", "metadata": {"name": "ok"}, "resource": {}, "inference": {}},
    {"kind": "Workspace", "metadata": {"name": "Bad_Name"}, "resource": {"count": "x"}},
    {"kind": "Workspace", "metadata": {"name": "a"}, "resources": {}, "tuning": {"method": 1}},
    {"metadata": {"labels": {"a": 1}, "annotations": []}, "inference": {"adapters": [{}]}},
]


@pytest.mark.parametrize("doc", WORKSPACES)
def test_inlined_and_original_schemas_report_the_same_errors(doc: dict[str, Any]) -> None:
    schema = json.loads((SCHEMAS[0].parent / "workspace.schema.json").read_text())
    original = jsonschema.Draft202012Validator(schema)
    inlined = jsonschema.Draft202012Validator(inline_local_refs(schema))

    def seen(validator: Any) -> list[tuple[str, str, str]]:
        return sorted(
            (e.json_path, str(e.validator), e.message) for e in validator.iter_errors(doc)
        )

    assert seen(inlined) == seen(original)
