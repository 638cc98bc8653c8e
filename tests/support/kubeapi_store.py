"""The emulated API server's objects: what each verb does to them, and their watches.

Test support, below `kubeapi_emulator.py` (which routes requests here) and above
`kubeapi_semantics.py` (the pure patch and selector rules). Objects live in kmock's
ObjectsArray, so every version stays in its history for assertions. The store stamps
what kube-apiserver would (uid, creationTimestamp, a global resourceVersion, generation),
refuses stale writes with 409 Conflict, keeps what each field manager last applied (for
server-side apply), honours dry runs and the status subresource, and records every change
for watches. It is used from the server's event loop only.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import jsonpatch
import kmock
import yaml

from tests.support import kubeapi_protobuf as protobuf
from tests.support import kubeapi_semantics as sem
from tests.support.kubeapi_catalog import JSON, Catalog, ResourceType
from tests.support.kubeapi_watch import INITIAL_EVENTS_END, Change, ChangeLog

ObjectKey = tuple[kmock.resource, str | None, str]


class ApiError(Exception):
    """An answer with a Kubernetes Status body, as kube-apiserver fails requests."""

    def __init__(self, status: int, reason: str, message: str, details: JSON | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.details = details or {}

    def body(self) -> JSON:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.status,
        }


@dataclass(frozen=True)
class Target:
    """What a resource URL points at."""

    resource: ResourceType
    namespace: str | None
    name: str | None = None
    subresource: str | None = None


@dataclass(frozen=True)
class Call:
    """The parts of a request the store reads."""

    method: str
    params: Mapping[str, str]
    content_type: str
    body: bytes

    @property
    def dry_run(self) -> bool:
        return "dryRun" in self.params


def _not_found(target: Target) -> ApiError:
    r, name = target.resource, target.name or ""
    details = {"name": name, "group": r.group, "kind": r.plural}
    return ApiError(404, "NotFound", f'{r.qualified} "{name}" not found', details)


def _conflict(target: Target, why: str) -> ApiError:
    r, name = target.resource, target.name or ""
    details = {"name": name, "group": r.group, "kind": r.plural}
    message = f'Operation cannot be fulfilled on {r.qualified} "{name}": {why}'
    return ApiError(409, "Conflict", message, details)


def decode_body(call: Call) -> JSON:
    """A request body as JSON: from protobuf, JSON or YAML."""
    if "protobuf" in call.content_type:
        try:
            return protobuf.decode(call.body)
        except protobuf.ProtobufError as exc:
            raise ApiError(415, "UnsupportedMediaType", str(exc)) from exc
    try:
        body = json.loads(call.body or b"{}")
    except ValueError:
        body = yaml.safe_load(call.body)
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the request body must be a JSON object")
    return body


@dataclass
class ObjectStore:
    catalog: Catalog
    objects: kmock.ObjectsArray
    #: Play the controllers: workloads get a ready (Jobs: complete) status as they are written.
    auto_ready: bool = False
    changes: ChangeLog = field(default_factory=ChangeLog)
    revision: int = 1
    _applied: dict[tuple[kmock.resource, str | None, str, str], JSON] = field(default_factory=dict)

    # --- verbs --------------------------------------------------------------

    def serve(self, target: Target, call: Call) -> tuple[JSON, int]:
        """Answer one request on a resource URL: (body, HTTP status)."""
        if target.subresource not in (None, "status"):
            raise ApiError(404, "NotFound", f"subresource {target.subresource!r} is not emulated")
        method = call.method
        if target.name is None and method == "GET":
            return self.list_objects(target, call.params), 200
        if target.name is None and method == "POST":
            return self.create(target, decode_body(call), dry_run=call.dry_run), 201
        if target.name is None and method == "DELETE":
            return self.delete_collection(target, call.params), 200
        if target.name is not None and method == "GET":
            return self.read(target), 200
        if target.name is not None and method == "PUT":
            return self.replace(target, decode_body(call), dry_run=call.dry_run), 200
        if target.name is not None and method == "PATCH":
            return self.patch(target, call)
        if target.name is not None and method == "DELETE":
            options = decode_body(call) if call.body else {}
            if call.dry_run:
                options["dryRun"] = ["All"]
            return self.delete(target, options), 200
        message = f"{method} is not supported on {target.resource.qualified}"
        raise ApiError(405, "MethodNotAllowed", message)

    def read(self, target: Target) -> JSON:
        live = self._live(target)
        if live is None:
            raise _not_found(target)
        return live

    def list_objects(self, target: Target, params: Mapping[str, str]) -> JSON:
        r = target.resource
        labels, fields = params.get("labelSelector"), params.get("fieldSelector")
        items = []
        try:
            for (ref, namespace, name), obj in self.objects.items():
                same = (ref.group, ref.version, ref.plural) == (r.group, r.version, r.plural)
                if not same or obj.deleted:
                    continue
                if target.namespace is not None and namespace != target.namespace:
                    continue
                raw = obj.raw
                if sem.matches_labels(labels, raw["metadata"].get("labels")) and sem.matches_fields(
                    fields, raw
                ):
                    items.append(((namespace or "", name), copy.deepcopy(raw)))
        except sem.SelectorError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc
        return {
            "kind": f"{r.kind}List",
            "apiVersion": r.api_version,
            "metadata": {"resourceVersion": str(self.revision)},
            "items": [item for _, item in sorted(items, key=lambda pair: pair[0])],
        }

    def create(self, target: Target, body: JSON, *, dry_run: bool = False) -> JSON:
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        name = meta.get("name")
        if not name:
            message = "metadata.name: Required value: name or generateName is required"
            raise ApiError(422, "Invalid", message)
        if target.name is not None and target.name != name:
            message = "the name of the object does not match the name on the URL"
            raise ApiError(400, "BadRequest", message)
        namespace = target.namespace
        if target.resource.namespaced and namespace is None:  # POST to an all-namespaces URL
            namespace = meta.get("namespace") or "default"
        named = Target(target.resource, namespace, name)
        if self._live(named) is not None:
            r = target.resource
            details = {"name": name, "group": r.group, "kind": r.plural}
            raise ApiError(409, "AlreadyExists", f'{r.qualified} "{name}" already exists', details)
        obj = self._admit(named, None, body)
        if not dry_run:
            self._store(named, obj, "ADDED")
        return obj

    def replace(self, target: Target, body: JSON, *, dry_run: bool = False) -> JSON:
        live = self.read(target)
        self._check_version(target, live, body.get("metadata", {}).get("resourceVersion"))
        if target.subresource == "status":
            body = {**live, "status": body.get("status")}
        elif "status" in target.resource.subresources:
            # As in kube-apiserver: the main resource cannot change what /status owns.
            body = {k: v for k, v in body.items() if k != "status"}
            if "status" in live:
                body["status"] = live["status"]
        obj = self._admit(target, live, body)
        if not dry_run:
            self._store(target, obj, "MODIFIED")
        return obj

    def patch(self, target: Target, call: Call) -> tuple[JSON, int]:
        content_type = call.content_type.split(";")[0].strip()
        if content_type == "application/apply-patch+yaml":
            return self.apply(target, call)
        live = self.read(target)
        try:
            patch = json.loads(call.body or b"null")
            if content_type == "application/json-patch+json":
                patched = sem.json_patch(live, patch)
            elif content_type == "application/merge-patch+json":
                patched = sem.merge_patch(live, patch)
            elif content_type == "application/strategic-merge-patch+json":
                patched = sem.strategic_merge_patch(live, patch)
            else:
                message = f"the body of the request was in an unknown format: {content_type}"
                raise ApiError(415, "UnsupportedMediaType", message)
        except (ValueError, jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise ApiError(422, "Invalid", f"the patch could not be applied: {exc}") from exc
        if isinstance(patch, dict):  # a resourceVersion in a patch is a precondition
            self._check_version(target, live, (patch.get("metadata") or {}).get("resourceVersion"))
        return self.replace(target, patched, dry_run=call.dry_run), 200

    def apply(self, target: Target, call: Call) -> tuple[JSON, int]:
        """Server-side apply: create when absent, otherwise merge and drop what was unapplied."""
        manager = call.params.get("fieldManager")
        if not manager:
            message = "PatchOptions.meta.k8s.io: fieldManager: Required value: is required"
            raise ApiError(422, "Invalid", message)
        applied = yaml.safe_load(call.body or b"{}")
        if not isinstance(applied, dict):
            raise ApiError(400, "BadRequest", "the apply configuration must be an object")
        applied.setdefault("metadata", {}).setdefault("name", target.name)
        live = self._live(target)
        key = (*self._key(target), manager)
        previous = self._applied.get(key) if live is not None else None
        merged = sem.server_side_apply(live, applied, previous)
        if live is None:
            obj = self.create(target, merged, dry_run=call.dry_run)
        else:
            obj = self.replace(target, merged, dry_run=call.dry_run)
        if not call.dry_run:
            self._applied[key] = applied
        return obj, 201 if live is None else 200

    def delete(self, target: Target, options: JSON) -> JSON:
        live = self.read(target)
        preconditions = options.get("preconditions") or {}
        if preconditions.get("uid") not in (None, live["metadata"]["uid"]):
            why = "the UID in the precondition does not match the UID in record"
            raise _conflict(target, why)
        self._check_version(target, live, preconditions.get("resourceVersion"))
        if "All" in (options.get("dryRun") or []):
            return live
        if live["metadata"].get("finalizers"):
            live["metadata"].setdefault("deletionTimestamp", sem.now_rfc3339())
            obj = self._admit(target, live, live)
            self._store(target, obj, "MODIFIED")
            return obj
        key = self._key(target)
        self.objects[key].delete()
        for applied in [k for k in self._applied if k[:3] == key]:
            del self._applied[applied]
        self.revision += 1
        live["metadata"]["resourceVersion"] = str(self.revision)
        self._record(target, "DELETED", live)
        return live

    def delete_collection(self, target: Target, params: Mapping[str, str]) -> JSON:
        listed = self.list_objects(target, params)
        for item in listed["items"]:
            meta = item["metadata"]
            self.delete(Target(target.resource, meta.get("namespace"), meta["name"]), {})
        return listed

    def watch(
        self, target: Target, params: Mapping[str, str]
    ) -> tuple[list[JSON], AsyncIterator[JSON]]:
        """The events a watch starts with, and the stream of changes that follows them."""
        r = target.resource
        label_selector, field_selector = params.get("labelSelector"), params.get("fieldSelector")
        if target.name is not None:  # the deprecated /namespaces/x/pods/name?watch=1 form
            field_selector = f"metadata.name={target.name}"
        listing = Target(r, target.namespace)
        selected = {**params, "fieldSelector": field_selector or ""}
        version = params.get("resourceVersion")
        since = int(version) if version and version != "0" else self.revision
        initial: list[JSON] = []
        if not version or version == "0" or params.get("sendInitialEvents") == "true":
            items = self.list_objects(listing, selected)["items"]
            initial = [{"type": "ADDED", "object": obj} for obj in items]
        else:
            self.list_objects(listing, selected)  # validates the selectors
        if params.get("sendInitialEvents") == "true":
            # The watch-list protocol (client-go's WatchListClient, used by Helm's waiter).
            marker = {"resourceVersion": str(since), "annotations": {INITIAL_EVENTS_END: "true"}}
            bookmark = {"kind": r.kind, "apiVersion": r.api_version, "metadata": marker}
            initial.append({"type": "BOOKMARK", "object": bookmark})

        def matches(obj: JSON) -> bool:
            labels = obj.get("metadata", {}).get("labels")
            return sem.matches_labels(label_selector, labels) and sem.matches_fields(
                field_selector, obj
            )

        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        key = (r.group, r.version, r.plural)
        return initial, self.changes.stream(key, target.namespace, since, matches, timeout)

    # --- for tests ----------------------------------------------------------

    def write(self, obj: JSON) -> JSON:
        """Create or replace an object directly, as a controller would (seeding tests)."""
        resource = self.catalog.find_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if resource is None:
            raise ValueError(f"not a served kind: {obj.get('apiVersion')} {obj.get('kind')}")
        meta = obj.get("metadata", {})
        namespace = (meta.get("namespace") or "default") if resource.namespaced else None
        target = Target(resource, namespace, meta["name"])
        live = self._live(target)
        stored = self._admit(target, live, obj)
        self._store(target, stored, "ADDED" if live is None else "MODIFIED")
        return stored

    def set_ready(self, target: Target) -> JSON:
        """Give one stored workload the status of a healthy one (see `ready_status`)."""
        live = self.read(target)
        status = sem.ready_status(live)
        if status is None:
            raise ValueError(f"no ready status is emulated for {target.resource.kind}")
        obj = self._admit(target, live, {**live, "status": status})
        self._store(target, obj, "MODIFIED")
        return obj

    def clear(self) -> None:
        self.objects.clear()
        self._applied.clear()

    # --- bookkeeping --------------------------------------------------------

    def _key(self, target: Target) -> ObjectKey:
        r = target.resource
        return (kmock.resource(r.group, r.version, r.plural), target.namespace, target.name or "")

    def _live(self, target: Target) -> JSON | None:
        key = self._key(target)
        if key not in self.objects or self.objects[key].deleted:
            return None
        return copy.deepcopy(self.objects[key].raw)

    def _check_version(self, target: Target, live: JSON, wanted: str | None) -> None:
        if wanted and wanted != live["metadata"]["resourceVersion"]:
            why = (
                "the object has been modified; "
                "please apply your changes to the latest version and try again"
            )
            raise _conflict(target, why)

    def _admit(self, target: Target, live: JSON | None, body: JSON) -> JSON:
        """The object as the server stores it: identity, versions, and the defaults clients read."""
        resource = target.resource
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
        meta = obj.setdefault("metadata", {})
        meta.pop("managedFields", None)
        if resource.namespaced:
            meta["namespace"] = target.namespace or meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        self.revision += 1
        meta["resourceVersion"] = str(self.revision)
        if live is None:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = sem.now_rfc3339()
            meta["generation"] = 1
        else:
            old = live["metadata"]
            meta["uid"], meta["creationTimestamp"] = old["uid"], old["creationTimestamp"]
            meta["generation"] = old.get("generation", 1) + int(sem.spec_changed(live, obj))
            if old.get("deletionTimestamp"):
                meta["deletionTimestamp"] = old["deletionTimestamp"]
        if resource.kind == "Secret" and "stringData" in obj:
            strings = obj.pop("stringData")
            encoded = {k: base64.b64encode(str(v).encode()).decode() for k, v in strings.items()}
            obj["data"] = {**(obj.get("data") or {}), **encoded}
        return obj

    def _store(self, target: Target, obj: JSON, event: str) -> None:
        key = self._key(target)
        if self.auto_ready and (status := sem.ready_status(obj)) is not None:
            obj["status"] = status
        if key in self.objects:
            self.objects[key].history.append(obj)
        else:
            self.objects[key] = obj
        if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
            self.objects[key].delete()
            event = "DELETED"
        self._record(target, event, obj)

    def _record(self, target: Target, event: str, obj: JSON) -> None:
        r = target.resource
        change = Change(
            revision=int(obj["metadata"]["resourceVersion"]),
            resource=(r.group, r.version, r.plural),
            namespace=obj["metadata"].get("namespace"),
            event={"type": event, "object": copy.deepcopy(obj)},
        )
        self.changes.record(change)
