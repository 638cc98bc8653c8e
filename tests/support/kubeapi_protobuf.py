"""Reading the Kubernetes protobuf request bodies that client-go's typed clients send.

Test support, used by `kubeapi_emulator.py`. Since client-go 1.33 the typed clientset
sends built-in kinds as `application/vnd.kubernetes.protobuf` and does not fall back to
JSON on 415, so Helm's release storage (Secrets), `create_namespace` (Namespace) and
deletes (DeleteOptions) arrive in protobuf. This decodes the `k8s\\0` envelope
(runtime.Unknown) and those few messages into the JSON the rest of the emulator speaks,
from field numbers copied from the Kubernetes `generated.proto` files. Responses stay
JSON, which every client accepts.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping
from typing import Any, Union

MAGIC = b"k8s\x00"

# A field is (json name, type); a type is a scalar name, a message (a nested schema),
# ("map", value type) or ("repeated", type).
FieldType = Union[str, "Schema", tuple[str, Any]]
Schema = Mapping[int, tuple[str, FieldType]]

TIME: Schema = {1: ("seconds", "int"), 2: ("nanos", "int")}
OWNER_REFERENCE: Schema = {
    1: ("kind", "string"),
    3: ("name", "string"),
    4: ("uid", "string"),
    5: ("apiVersion", "string"),
    6: ("controller", "bool"),
    7: ("blockOwnerDeletion", "bool"),
}
OBJECT_META: Schema = {
    1: ("name", "string"),
    2: ("generateName", "string"),
    3: ("namespace", "string"),
    5: ("uid", "string"),
    6: ("resourceVersion", "string"),
    7: ("generation", "int"),
    8: ("creationTimestamp", TIME),
    9: ("deletionTimestamp", TIME),
    10: ("deletionGracePeriodSeconds", "int"),
    11: ("labels", ("map", "string")),
    12: ("annotations", ("map", "string")),
    13: ("ownerReferences", ("repeated", OWNER_REFERENCE)),
    14: ("finalizers", ("repeated", "string")),
}
SCHEMAS: Mapping[str, Schema] = {
    "Secret": {
        1: ("metadata", OBJECT_META),
        2: ("data", ("map", "bytes")),
        3: ("type", "string"),
        4: ("stringData", ("map", "string")),
        5: ("immutable", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", OBJECT_META),
        2: ("data", ("map", "string")),
        3: ("binaryData", ("map", "bytes")),
        4: ("immutable", "bool"),
    },
    "Namespace": {
        1: ("metadata", OBJECT_META),
        2: ("spec", {1: ("finalizers", ("repeated", "string"))}),
        3: ("status", {1: ("phase", "string")}),
    },
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int"),
        2: ("preconditions", {1: ("uid", "string"), 2: ("resourceVersion", "string")}),
        3: ("orphanDependents", "bool"),
        4: ("propagationPolicy", "string"),
        5: ("dryRun", ("repeated", "string")),
    },
}
_UNKNOWN: Schema = {
    1: ("typeMeta", {1: ("apiVersion", "string"), 2: ("kind", "string")}),
    2: ("raw", "raw"),
}


class ProtobufError(ValueError):
    """A body this decoder cannot read (not an envelope, or a kind it does not know)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of one message: varints as int, the rest as bytes."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            fields.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            fields.append((number, data[pos : pos + length]))
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            fields.append((number, data[pos : pos + size]))
            pos += size
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return fields


def _scalar(kind: FieldType, value: int | bytes) -> Any:
    if isinstance(kind, Mapping):
        return decode_message(value if isinstance(value, bytes) else b"", kind)
    if kind == "string":
        return value.decode() if isinstance(value, bytes) else str(value)
    if kind == "bytes":
        return base64.b64encode(value if isinstance(value, bytes) else b"").decode()
    if kind == "raw":
        return value
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return value if isinstance(value, int) else int.from_bytes(value, "little", signed=True)
    raise ProtobufError(f"unknown field type {kind!r}")


def decode_message(data: bytes, schema: Schema) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if isinstance(kind, tuple) and kind[0] == "map":
            entry = dict(_fields(value if isinstance(value, bytes) else b""))
            key = _scalar("string", entry.get(1, b""))
            result.setdefault(name, {})[key] = _scalar(kind[1], entry.get(2, b""))
        elif isinstance(kind, tuple) and kind[0] == "repeated":
            result.setdefault(name, []).append(_scalar(kind[1], value))
        elif kind != "string" or value:  # proto3 writes empty strings; JSON omits them
            result[name] = _scalar(kind, value)
    return result


def _timestamps(meta: dict[str, Any]) -> None:
    for field in ("creationTimestamp", "deletionTimestamp"):
        stamp = meta.get(field)
        if isinstance(stamp, dict):
            if stamp.get("seconds"):
                moment = datetime.datetime.fromtimestamp(stamp["seconds"], tz=datetime.UTC)
                meta[field] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
            else:
                del meta[field]


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf-encoded Kubernetes object (with its envelope) as a JSON-like dict."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf envelope")
    envelope = decode_message(body[len(MAGIC) :], _UNKNOWN)
    type_meta = envelope.get("typeMeta", {})
    kind = type_meta.get("kind", "")
    if kind not in SCHEMAS:
        raise ProtobufError(f"the emulator cannot read {kind or 'this kind'} in protobuf")
    obj = decode_message(envelope.get("raw", b""), SCHEMAS[kind])
    if "metadata" in obj:
        _timestamps(obj["metadata"])
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}
