"""A CRD's openAPIV3Schema as a JSON Schema validator, as strict as the API server.

A structural schema is close to JSON Schema draft 4; the differences that matter here:

- ``x-kubernetes-int-or-string: true`` admits an integer or a string (the schema then has
  no ``type``, or an ``anyOf`` of both, which draft 4 reads the same way);
- ``nullable: true`` admits null as well as the declared type;
- the API server drops (or, with strict field validation, kubectl's default, rejects)
  fields a schema does not declare, so every object with ``properties`` and no
  ``additionalProperties`` or ``x-kubernetes-preserve-unknown-fields`` is closed here:
  an invented field fails;
- ``x-kubernetes-validations`` (CEL rules) are not evaluated: jsonschema has no CEL, and the
  rules that concern modelsync's output are asserted by name in the tests.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml


def crd_schema(path: Path, version: str) -> dict[str, Any]:
    """The openAPIV3Schema of one served version of the CRD in ``path``."""
    crd = yaml.safe_load(path.read_text())
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version and entry.get("served"):
            schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
            return schema
    raise LookupError(f"{path.name} serves no version {version}")


def crd_kind(path: Path) -> tuple[str, str, list[str]]:
    """(group, kind, served versions) of the CRD in ``path``."""
    crd = yaml.safe_load(path.read_text())
    served = [v["name"] for v in crd["spec"]["versions"] if v.get("served")]
    return crd["spec"]["group"], crd["spec"]["names"]["kind"], served


def strict(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema with the structural-schema conventions above made explicit."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: strict(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, Mapping):
            out[key] = strict(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [strict(sub) for sub in value]
        elif key == "x-kubernetes-validations":
            continue
        else:
            out[key] = value
    if out.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache  # one compile per CRD version: AKSNodeClass's schema alone is 97 kB
def validator(path: Path, version: str) -> jsonschema.Draft4Validator:
    schema = strict(crd_schema(path, version))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def errors(path: Path, version: str, manifest: Mapping[str, Any]) -> list[str]:
    """Each schema error as ``field.path: message``; empty when the manifest is valid."""
    found = validator(path, version).iter_errors(dict(manifest))
    return sorted(
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in found
    )
