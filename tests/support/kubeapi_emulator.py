"""The emulated Kubernetes API server: kmock's KubernetesEmulator taught what Helm needs.

Test support, the core of `kubeapi.py`'s fixture. kmock receives and records every
request and keeps the objects with their history; this subclass takes over the answers:
injected faults first, then discovery (legacy and aggregated) and OpenAPI documents from
the catalog, and everything on a resource URL through the object store (verbs, patches,
server-side apply, watches). Everything runs on the server's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import re
from collections.abc import Callable
from typing import Any

import aiohttp.web
import attrs
import kmock

from tests.support import kubeapi_openapi as openapi
from tests.support.kubeapi_catalog import DEFAULT_KUBE_VERSION, Catalog, build_catalog
from tests.support.kubeapi_faults import FaultPlan, Injection
from tests.support.kubeapi_store import ApiError, Call, ObjectStore, Target
from tests.support.kubeapi_watch import respond_with_events

_RAW_REQUEST: contextvars.ContextVar[aiohttp.web.BaseRequest] = contextvars.ContextVar("raw")
_AGGREGATED = re.compile(r"as=APIGroupDiscoveryList", re.IGNORECASE)
# kmock's URL parser raises on a collection URL that ends in `namespaces` (GET /api/v1/namespaces).
_BARE_NAMESPACES = re.compile(r"^/(api/[^/]+|apis/[^/]+/[^/]+)/namespaces/?$")
_NOT_FOUND = "the server could not find the requested resource"


def _json(
    body: Any, status: int = 200, content_type: str = "application/json"
) -> aiohttp.web.Response:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    # no-store keeps client-go's HTTP disk cache (~/.kube/cache/http) from filling up with
    # one copy of every document per test server (each listens on a new port).
    headers = {"Content-Type": content_type, "Cache-Control": "no-store"}
    return aiohttp.web.Response(body=payload, status=status, headers=headers)


def _injected(injection: Injection) -> aiohttp.web.Response:
    status = injection.status or 500
    error = ApiError(status, injection.reason or "", injection.message or "")
    response = _json(error.body(), status=status)
    if injection.retry_after is not None:
        # client-go retries 429 and 5xx answers only when they carry Retry-After.
        response.headers["Retry-After"] = str(injection.retry_after)
    return response


@attrs.define(kw_only=True)
class KubeApiEmulator(kmock.KubernetesEmulator):
    """kmock's emulator with kube-apiserver's answers for discovery, OpenAPI and objects."""

    kube_version: str = DEFAULT_KUBE_VERSION
    #: Whether the OpenAPI v3 documents carry the schemas too (Helm reads only the paths).
    openapi_schemas: bool = False
    faults: FaultPlan = attrs.field(factory=FaultPlan)
    store: ObjectStore = attrs.field(init=False)
    _catalog: Catalog = attrs.field(init=False)
    _closing: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._catalog = build_catalog(self.kube_version)
        self.store = ObjectStore(catalog=self._catalog, objects=self._objects)

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    async def close(self) -> None:
        """End open watches and pending delays: the server is stopping."""
        self._closing.set()
        await self.store.changes.close()

    def reset(self) -> None:
        self.store.clear()
        self._requests.clear()
        self.faults.clear()

    # --- entry points -----------------------------------------------------

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        _RAW_REQUEST.set(raw_request)  # watches stream, and kmock's Request hides the raw one
        # kmock's request parser fails on these two; the emulator reads them itself.
        if _BARE_NAMESPACES.match(raw_request.path) or "protobuf" in raw_request.content_type:
            return await self._call_unparsed(raw_request)
        return await super().__call__(raw_request)

    async def _call_unparsed(
        self, raw_request: aiohttp.web.BaseRequest
    ) -> aiohttp.web.StreamResponse:
        body = await raw_request.read()
        request = kmock.Request(
            id=len(self._requests),
            method=raw_request.method,
            url=raw_request.url,
            params=dict(raw_request.query),
            headers=dict(raw_request.headers),
            body=body,
            text=body.decode(errors="replace"),
            raw_request=raw_request,
        )
        self._requests.append(request)
        try:
            return await self._handle(request)
        except Exception as exc:  # recorded like kmock does, and answered as a 500
            self._errors[-1].append(exc)
            return await self._render_error(exc)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        injection = self.faults.take(request.method.value, request.url.path)
        if injection.delay:
            # Cut short when the server stops: a client that gave up may keep the connection.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), injection.delay)
        if injection.status is not None:
            return _injected(injection)
        try:
            return await self._route(request)
        except ApiError as exc:
            return _json(exc.body(), status=exc.status)
        finally:
            await self.store.changes.announce()

    # --- routing ------------------------------------------------------------

    async def _route(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        path = request.url.path.rstrip("/") or "/"
        method = request.method.value
        if method == "GET":
            document = self._document(path, request.headers.get("Accept", ""))
            if document is not None:
                return document
        target = self._target(path)
        if target is None:
            raise ApiError(404, "NotFound", _NOT_FOUND)
        if method == "GET" and request.params.get("watch") in ("true", "1"):
            initial, changes = self.store.watch(target, request.params)
            return await respond_with_events(_RAW_REQUEST.get(), initial, changes)
        call = Call(
            method=method,
            params=request.params,
            content_type=request.headers.get("Content-Type", ""),
            body=request.body,
        )
        body, status = self.store.serve(target, call)
        return _json(body, status=status)

    def _document(self, path: str, accept: str) -> aiohttp.web.StreamResponse | None:
        """Discovery, version and OpenAPI documents; None when the path names none."""
        catalog = self._catalog
        if path in ("/api", "/apis") and _AGGREGATED.search(accept):
            media = "v2" if re.search(r"v=v2(;|,|$)", accept) else "v2beta1"
            aggregated = catalog.aggregated(core=path == "/api", media_version=media)
            media_type = (
                f"application/json;g=apidiscovery.k8s.io;v={media};as=APIGroupDiscoveryList"
            )
            return _json(aggregated, content_type=media_type)
        if path.startswith("/openapi/"):
            return self._openapi(path, accept)
        documents: dict[str, Callable[[], Any]] = {
            "/version": catalog.version_info,
            "/api": catalog.api_versions,
            "/apis": catalog.api_group_list,
        }
        if path in documents:
            return _json(documents[path]())
        if path in ("/healthz", "/readyz", "/livez"):
            return aiohttp.web.Response(text="ok")
        segments = path.strip("/").split("/")
        if segments[0] == "apis" and len(segments) == 2:
            if segments[1] not in catalog.group_versions:
                raise ApiError(404, "NotFound", _NOT_FOUND)
            return _json(catalog.api_group(segments[1]))
        if segments[0] == "api" and len(segments) == 2:
            document = catalog.api_resource_list("", segments[1])
        elif segments[0] == "apis" and len(segments) == 3:
            document = catalog.api_resource_list(segments[1], segments[2])
        else:
            return None
        if document is None:
            raise ApiError(404, "NotFound", _NOT_FOUND)
        return _json(document)

    def _openapi(self, path: str, accept: str) -> aiohttp.web.StreamResponse:
        if path == "/openapi/v3":
            return _json(openapi.openapi_v3_root(self.kube_version, self.openapi_schemas))
        if path == "/openapi/v2":
            if accept and "json" not in accept and "*/*" not in accept:
                raise ApiError(406, "NotAcceptable", "only application/json is served")
            return _json(openapi.openapi_v2(self.kube_version))
        gv = path.removeprefix("/openapi/v3/").removeprefix("apis/").removeprefix("api/")
        body = openapi.openapi_v3_group_version(self.kube_version, gv, self.openapi_schemas)
        if body is None:
            raise ApiError(404, "NotFound", f"no OpenAPI document for {path}")
        return _json(body)

    def _target(self, path: str) -> Target | None:
        """The resource, namespace, name and subresource a URL names; None if none is served."""
        segments = path.strip("/").split("/")
        if segments[0] == "api" and len(segments) >= 3:
            group, version, rest = "", segments[1], segments[2:]
        elif segments[0] == "apis" and len(segments) >= 4:
            group, version, rest = segments[1], segments[2], segments[3:]
        else:
            return None
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            inner = self._catalog.find(group, version, rest[2])
            if inner is not None and inner.namespaced:
                namespace, rest = rest[1], rest[2:]
        resource = self._catalog.find(group, version, rest[0])
        if resource is None:
            return None
        name = rest[1] if len(rest) > 1 else None
        return Target(resource, namespace, name, "/".join(rest[2:]) or None)
