"""OpenAPI v2 and v3 documents for the emulated API server.

Test support, beside `kubeapi_catalog.py`: turns kubernetes-validate's JSON-Schema rendering
of the Kubernetes definitions back into OpenAPI schemas and adds the paths the catalog
serves. Helm (through kubectl's validator) reads /openapi/v3 and the per-group-version
documents to learn that every kind accepts the `fieldValidation` query parameter on PATCH;
with that answer it leaves validation to the server and never downloads /openapi/v2 (which
it would only accept as protobuf). Documents are built once per Kubernetes version and
kept as encoded bytes.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from tests.support.kubeapi_catalog import (
    JSON,
    ResourceType,
    build_catalog,
    kind_definitions,
    load_definitions,
)

# kubernetes-validate rewrites these two as `oneOf`; put back what the API server publishes.
_SCALAR_OVERRIDES: Mapping[str, JSON] = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "type": "string",
        "format": "int-or-string",
    },
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
}

_PATCH_MEDIA_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def _convert(node: Any, ref_prefix: str, *, in_properties: bool = False) -> Any:
    """One JSON-Schema node back to OpenAPI: single types, local $refs, no added enums."""
    if isinstance(node, list):
        return [_convert(item, ref_prefix) for item in node]
    if not isinstance(node, dict):
        return node
    if in_properties:
        converted = {key: _convert(value, ref_prefix) for key, value in node.items()}
        for field in ("apiVersion", "kind"):
            if isinstance(converted.get(field), dict):
                converted[field].pop("enum", None)
        return converted
    result: JSON = {}
    for key, value in node.items():
        if key == "description":
            continue  # most of the bytes, and no client of the emulator reads them
        if key == "type" and isinstance(value, list):
            concrete = [t for t in value if t != "null"]
            result[key] = concrete[0] if concrete else "object"
        elif key == "$ref" and isinstance(value, str):
            result[key] = ref_prefix + value.removeprefix("#/$defs/")
        elif key in ("properties", "patternProperties", "$defs", "definitions"):
            result[key] = _convert(value, ref_prefix, in_properties=True)
        else:
            result[key] = _convert(value, ref_prefix)
    return result


@functools.cache
def _schemas(kube_version: str, ref_prefix: str) -> Mapping[str, JSON]:
    converted: dict[str, JSON] = {}
    for name, schema in load_definitions(kube_version).items():
        converted[name] = dict(_SCALAR_OVERRIDES.get(name) or _convert(schema, ref_prefix))
    return converted


def _closure(schemas: Mapping[str, JSON], roots: Iterable[str], ref_prefix: str) -> list[str]:
    """Names of the roots and everything they reference, transitively."""
    seen: set[str] = set()
    pending = [root for root in roots if root in schemas]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        stack: list[Any] = [schemas[name]]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.startswith(ref_prefix):
                    pending.append(ref.removeprefix(ref_prefix))
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return sorted(seen)


def _definition(kube_version: str, resource: ResourceType, suffix: str = "") -> str:
    """The definition of the kind (or its list kind); lists fall back to the item kind."""
    index = kind_definitions(kube_version)
    key = (resource.group, resource.version, resource.kind)
    return index.get((*key[:2], key[2] + suffix)) or index[key]


def _operation(resource: ResourceType, action: str, verb: str, *, v3: bool, ref: str) -> JSON:
    gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
    query = ["dryRun", "fieldManager"]
    if action in ("post", "put", "patch"):
        query.append("fieldValidation")
    if action == "patch":
        query.append("force")
    if action == "list":
        query = ["labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "watch"]
    parameters: list[JSON] = [
        {"name": name, "in": "query", "schema": {"type": "string"}}
        if v3
        else {"name": name, "in": "query", "type": "string", "uniqueItems": True}
        for name in query
    ]
    ok = (
        {"content": {"application/json": {"schema": {"$ref": ref}}}, "description": "OK"}
        if v3
        else {"schema": {"$ref": ref}, "description": "OK"}
    )
    operation: JSON = {
        "operationId": f"{verb}{resource.kind}",
        "tags": [resource.api_version],
        "parameters": parameters,
        "responses": {"200": ok},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }
    if action == "patch":
        if v3:
            operation["requestBody"] = {
                "content": {media: {"schema": {"type": "object"}} for media in _PATCH_MEDIA_TYPES}
            }
        else:
            operation["consumes"] = list(_PATCH_MEDIA_TYPES)
    return operation


def _paths(kube_version: str, resources: Iterable[ResourceType], *, v3: bool) -> JSON:
    prefix = "#/components/schemas/" if v3 else "#/definitions/"
    paths: JSON = {}
    for r in resources:
        item_ref = prefix + _definition(kube_version, r)
        list_ref = prefix + _definition(kube_version, r, "List")
        base = f"/api/{r.version}" if not r.group else f"/apis/{r.group}/{r.version}"
        scoped = (
            f"{base}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{base}/{r.plural}"
        )
        verbs = set(r.verbs)
        collection: JSON = {}
        if "list" in verbs:
            collection["get"] = _operation(r, "list", "list", v3=v3, ref=list_ref)
        if "create" in verbs:
            collection["post"] = _operation(r, "post", "create", v3=v3, ref=item_ref)
        if "deletecollection" in verbs:
            collection["delete"] = _operation(
                r, "deletecollection", "deleteCollection", v3=v3, ref=item_ref
            )
        item: JSON = {}
        for method, action, verb in (
            ("get", "get", "get"),
            ("put", "put", "update"),
            ("patch", "patch", "patch"),
            ("delete", "delete", "delete"),
        ):
            if verb in verbs:
                item[method] = _operation(
                    r, action, verb.replace("update", "replace"), v3=v3, ref=item_ref
                )
        if collection:
            paths[scoped] = collection
        if item:
            paths[f"{scoped}/{{name}}"] = item
        if r.namespaced and "list" in verbs:
            paths[f"{base}/{r.plural}"] = {
                "get": _operation(r, "list", "listAll", v3=v3, ref=list_ref)
            }
        if "status" in r.subresources:
            paths[f"{scoped}/{{name}}/status"] = {
                method: _operation(r, action, f"{verb}Status", v3=v3, ref=item_ref)
                for method, action, verb in (
                    ("get", "get", "read"),
                    ("put", "put", "replace"),
                    ("patch", "patch", "patch"),
                )
            }
    return paths


def _encode(document: JSON) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


@functools.cache
def openapi_v3_group_version(
    kube_version: str, group_version: str, schemas: bool = False
) -> bytes | None:
    """/openapi/v3/api/v1 or /openapi/v3/apis/<group>/<version>, encoded; None if unknown.

    Without `schemas` the document has the paths only: Helm reads nothing else, and Go
    takes about 20 ms to parse each full document, twice per upgrade.
    """
    group, _, version = group_version.rpartition("/")
    resources = [
        r for r in build_catalog(kube_version).resources if (r.group, r.version) == (group, version)
    ]
    if not resources:
        return None
    components: JSON = {}
    if schemas:
        prefix = "#/components/schemas/"
        converted = _schemas(kube_version, prefix)
        roots = [_definition(kube_version, r, suffix) for r in resources for suffix in ("", "List")]
        roots += [
            "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
            "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        ]
        components = {name: converted[name] for name in _closure(converted, roots, prefix)}
    document = {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": f"v{kube_version}"},
        "paths": _paths(kube_version, resources, v3=True),
        "components": {"schemas": components},
    }
    return _encode(document)


@functools.cache
def openapi_v3_root(kube_version: str, schemas: bool = False) -> bytes:
    """/openapi/v3: where each group-version document lives, with a content hash."""
    paths: JSON = {}
    for group, versions in build_catalog(kube_version).group_versions.items():
        for version in versions:
            gv = f"{group}/{version}" if group else version
            path = f"apis/{gv}" if group else f"api/{gv}"
            body = openapi_v3_group_version(kube_version, gv, schemas)
            digest = hashlib.sha512(body or b"").hexdigest().upper()
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return _encode({"paths": paths})


@functools.cache
def openapi_v2(kube_version: str) -> bytes:
    """/openapi/v2 as JSON (clients that insist on protobuf are answered 406)."""
    prefix = "#/definitions/"
    document = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": f"v{kube_version}"},
        "paths": _paths(kube_version, build_catalog(kube_version).resources, v3=False),
        "definitions": dict(_schemas(kube_version, prefix)),
    }
    return _encode(document)
