"""JSON Schema validation of documents, with messages a person can act on.

The schemas under ``schemas/`` (JSON Schema 2020-12) are the contract; ``jsonschema``
checks documents against them. This module only turns its errors into findings located at
the offending field: unknown fields get a "did you mean", enums list their choices, and a
schema may carry an ``x-error`` text that says what a pattern or a ``oneOf`` means.

``pattern`` is matched as JSON Schema says, with ECMA-262 regular expressions (``regress``),
not Python's ``re``: there ``$`` also matches before a final newline, so ``"phi\n"`` passed
``^[a-z0-9]...$`` and a name with a trailing newline reached file paths and releases.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jsonschema
import regress

from controller.core.documents import Document, FieldPath
from controller.core.findings import Finding, at, did_you_mean

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


class SchemaSet:
    """Compiled validators for the kinds modelsync reads, keyed by ``kind``."""

    def __init__(self, schemas: Mapping[str, dict[str, Any]]) -> None:
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        # The shipped schemas are checked against their metaschema by the tests
        # (tests/core/test_schemas.py), not at every start: that check was a tenth of the time
        # `modelsync validate` takes over 1,000 files.
        for kind, schema in schemas.items():
            cls = jsonschema.validators.validator_for(schema)
            self._validators[kind] = _with_ecma_patterns(cls)(inline_local_refs(schema))

    def kinds(self) -> frozenset[str]:
        return frozenset(self._validators)

    def invalid_paths(self, kind: str, body: Any) -> list[FieldPath]:
        """The fields ``body`` would have to lose to pass: unknown keys, bad values, and the
        mappings that miss a required key."""
        paths: list[FieldPath] = []
        for error in self._validators[kind].iter_errors(body):
            path: FieldPath = tuple(error.absolute_path)
            schema = error.schema if isinstance(error.schema, Mapping) else {}
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                known = set(schema.get("properties", {}))
                patterns = schema.get("patternProperties", {})
                paths += [
                    (*path, key)
                    for key in error.instance
                    if key not in known and not any(re.search(p, key) for p in patterns)
                ]
            else:
                paths.append(path)
        return paths

    def validate(self, kind: str, doc: Document) -> list[Finding]:
        validator = self._validators[kind]
        findings: list[Finding] = []
        for error in validator.iter_errors(doc.body):
            findings.extend(_findings(doc, error))
        return sorted(findings, key=lambda f: (f.line, f.column, f.field))


#: Keywords that describe and never validate: safe to lay over an inlined definition.
_ANNOTATIONS = frozenset({"description", "default", "title", "examples", "$comment", "deprecated"})


def inline_local_refs(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema with each ``{"$ref": "#/$defs/NAME"}`` replaced by that definition.

    Resolving a ``$ref`` through ``referencing`` on every visit was 40% of the time spent
    validating a Workspace; an inlined copy validates the same and locates errors the same.
    A ``$ref`` is inlined only where its siblings are annotations (a sibling that validates
    would have to apply beside the definition), and a definition that refers to itself,
    directly or not, keeps its ``$ref`` from the second visit on.
    """
    defs: Mapping[str, Any] = schema.get("$defs", {})

    def inline(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        name = ref.removeprefix("#/$defs/") if isinstance(ref, str) else ""
        rest = {key: inline(value, seen) for key, value in node.items()}
        inlinable = name in defs and name != ref and name not in seen
        if inlinable and set(rest) - {"$ref"} <= _ANNOTATIONS:
            del rest["$ref"]
            return {**inline(defs[name], (*seen, name)), **rest}
        return rest

    inlined: dict[str, Any] = inline(schema, ())
    return inlined


def _with_ecma_patterns(
    cls: type[jsonschema.protocols.Validator],
) -> type[jsonschema.protocols.Validator]:
    # types-jsonschema leaves extend() unannotated; it returns a validator class like cls.
    extend: Callable[..., type[jsonschema.protocols.Validator]] = jsonschema.validators.extend
    return extend(cls, {"pattern": _ecma_pattern})


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> regress.Regex:
    return regress.Regex(pattern)


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[jsonschema.ValidationError]:
    if validator.is_type(instance, "string") and _compiled(pattern).find(instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _findings(doc: Document, error: jsonschema.ValidationError) -> list[Finding]:
    path: FieldPath = tuple(error.absolute_path)
    keyword = error.validator
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    instance = error.instance

    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = set(schema.get("properties", {}))
        patterns = schema.get("patternProperties", {})
        extra = [
            key
            for key in instance
            if key not in known and not any(re.search(p, key) for p in patterns)
        ]
        return [
            at(
                doc,
                (*path, key),
                f"unknown field {key!r}{did_you_mean(key, known)}",
                code="schema",
                value=False,
            )
            for key in extra
        ]
    # A missing field is reported at its parent's key; a bad value at the value itself.
    value = keyword != "required"
    return [at(doc, path, _message(keyword, error, schema, instance), code="schema", value=value)]


def _message(
    keyword: Any, error: jsonschema.ValidationError, schema: Mapping[str, Any], instance: Any
) -> str:
    custom = schema.get("x-error")
    value: Any = error.validator_value
    if keyword == "required":
        missing = [key for key in value if key not in instance]
        return "missing required field " + ", ".join(repr(key) for key in missing)
    if keyword == "type":
        wanted = value if isinstance(value, list) else [value]
        names = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in wanted)
        return f"must be {names}, got {_describe(instance)}"
    if keyword == "enum":
        choices = ", ".join(repr(choice) for choice in value)
        hint = did_you_mean(str(instance), [str(c) for c in value])
        return f"must be one of {choices}; got {instance!r}{hint}"
    if keyword == "const":
        return f"must be {value!r}, got {instance!r}"
    if keyword in ("pattern", "oneOf", "anyOf", "minProperties", "maxProperties") and custom:
        return f"{instance!r} is not {custom}" if keyword == "pattern" else str(custom)
    if keyword == "pattern":
        return f"{instance!r} does not match {value!r}"
    if keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        relation = {
            "minimum": ">=",
            "exclusiveMinimum": ">",
            "maximum": "<=",
            "exclusiveMaximum": "<",
        }[keyword]
        return f"must be {relation} {value}, got {instance!r}"
    if keyword == "minLength":
        return "must not be empty" if value == 1 else f"must be at least {value} characters"
    if keyword == "maxLength":
        return f"must be at most {value} characters, got {len(instance)}"
    if keyword == "minItems":
        return "must not be empty" if value == 1 else f"must have at least {value} items"
    if keyword == "maxItems":
        return f"must have at most {value} items, got {len(instance)}"
    if keyword == "uniqueItems":
        return "items must be unique"
    return str(custom or error.message)


def _describe(instance: Any) -> str:
    if instance is None:
        return "null"
    if isinstance(instance, bool):
        return f"boolean {str(instance).lower()}"
    if isinstance(instance, str):
        return f"string {instance!r}"
    if isinstance(instance, int | float):
        return f"number {instance}"
    if isinstance(instance, list):
        return "a list"
    return "a mapping"
