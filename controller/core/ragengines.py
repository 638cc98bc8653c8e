"""KAITO RAGEngines read from Git: the typed spec, what modelsync's RAG chart cannot serve,
and the Workspace its ``inferenceService.url`` names.

Pure, beside ``specs.py`` and ``checks.py``: validation.py builds a ``RAGEngine`` from a
document that passed schemas/ragengine.schema.json, adds ``check_ragengine``'s findings,
places the embedding model (placement.py ``place_embedding``), and once every file of the
cluster is read, resolves the inference endpoint with ``resolve_inference``.

KAITO's RAGEngine keeps its fields under ``spec`` (api/v1alpha1 ragengine_types.go:
compute, storage, embedding, inferenceService, queryServiceName, indexServiceName). It has
no tolerations or nodeSelector: its pods go where ``compute.instanceType`` says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from controller.core.documents import Document
from controller.core.findings import Finding, Severity, at, did_you_mean
from controller.core.specs import Annotated, Toleration

#: The host and port of an http(s) URL (the schema admits no other); urllib is I/O's, not core's.
_AUTHORITY = re.compile(r"^https?://(?:[^@/?#]*@)?(?P<host>[^:/?#]*)(?::(?P<port>[0-9]+))?", re.I)
#: Where the inference chart's Service listens (charts/workspace-inference values service.port).
INFERENCE_SERVICE_PORT = 80


@dataclass(frozen=True)
class RAGEngine(Annotated):
    """A RAGEngine, with the attributes placement and planning share with ``Workspace``."""

    name: str
    namespace: str | None
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    instance_type: str | None
    label_selector: Mapping[str, Any]
    embedding_model: str | None
    embedding_image: str | None
    embedding_url: str | None
    inference_url: str | None
    inference_secret: str | None
    context_window: int | None
    storage_claim: str | None
    document: Document = field(repr=False, compare=False)
    # KAITO's RAGEngine has neither; placement reads them as it does a Workspace's.
    tolerations: tuple[Toleration, ...] = ()
    node_selector: Mapping[str, str] = field(default_factory=dict)
    preferred_nodes: tuple[str, ...] = ()

    kind: ClassVar[str] = "rag"
    #: Where findings about the nodes it needs are located.
    resource_field: ClassVar[tuple[str, ...]] = ("spec", "compute")


@dataclass(frozen=True)
class InferenceTarget:
    """The served Workspace a RAGEngine's ``inferenceService.url`` names."""

    namespace: str
    workspace: str
    model: str  # the name the Workspace's vLLM serves its model under
    max_model_len: int | None


def ragengine_from_document(doc: Document) -> RAGEngine:
    """A RAGEngine from a document that passed the RAGEngine schema."""
    meta, spec = doc.body["metadata"], doc.body["spec"]
    compute = spec.get("compute", {})
    embedding = spec["embedding"]
    local, remote = embedding.get("local", {}), embedding.get("remote", {})
    inference = spec.get("inferenceService", {})
    storage = spec.get("storage", {})
    claim = storage.get("persistentVolumeClaim") or storage.get("persistentVolume", {}).get(
        "persistentVolumeClaim"
    )
    return RAGEngine(
        name=meta["name"],
        namespace=meta.get("namespace"),
        labels=meta.get("labels", {}),
        annotations=meta.get("annotations", {}),
        instance_type=compute.get("instanceType"),
        label_selector=compute.get("labelSelector", {}),
        embedding_model=local.get("modelID"),
        embedding_image=local.get("image"),
        embedding_url=remote.get("url"),
        inference_url=inference.get("url"),
        inference_secret=inference.get("accessSecret"),
        context_window=inference.get("contextWindowSize"),
        storage_claim=claim,
        document=doc,
    )


def check_ragengine(rag: RAGEngine) -> list[Finding]:
    """What in a valid KAITO RAGEngine the workspace-rag chart cannot serve, located."""
    doc, findings = rag.document, []
    unsupported = (
        (rag.embedding_url, ("spec", "embedding", "remote"), "a remote embedding service"),
        (rag.embedding_image, ("spec", "embedding", "local", "image"), "an embedding image"),
    )
    for value, path, what in unsupported:
        if value:
            findings.append(
                at(
                    doc,
                    path,
                    f"{what} is not served by modelsync's RAG service yet; name a Hugging Face "
                    "model in spec.embedding.local.modelID",
                    code="rag",
                )
            )
    vector_db = doc.body["spec"].get("storage", {}).get("vectorDB", {})
    if vector_db.get("url"):
        findings.append(
            at(
                doc,
                ("spec", "storage", "vectorDB", "url"),
                "an external vector database is not served: modelsync's RAG service keeps "
                "FAISS on its own volume",
                code="rag",
            )
        )
    for key in ("queryServiceName", "indexServiceName"):
        value = doc.body["spec"].get(key)
        if value and value != rag.name:
            findings.append(
                at(
                    doc,
                    ("spec", key),
                    f"ignored: the RAG service has one Service, named {rag.name!r} after the "
                    "RAGEngine",
                    code="rag",
                    severity=Severity.WARNING,
                )
            )
    return findings


def service_named(url: str, namespace: str, namespaces: tuple[str, ...]) -> tuple[str, str] | None:
    """The (namespace, Service) an in-cluster URL names, or None for any other host.

    Kubernetes DNS forms: ``name`` (the RAGEngine's own namespace), ``name.ns``,
    ``name.ns.svc`` and ``name.ns.svc.<cluster domain>``. ``name.ns`` counts only where
    ``ns`` is a namespace of this cluster (``example.com`` is a host on the internet).
    """
    host, _ = _authority(url)
    parts = host.split(".")
    if host == "localhost":  # a sidecar of the RAG pod, not a Service
        return None
    if len(parts) == 1 and parts[0]:
        return namespace, parts[0]
    if len(parts) == 2 and parts[1] in namespaces:
        return parts[1], parts[0]
    if len(parts) >= 3 and parts[2] == "svc":
        return parts[1], parts[0]
    return None


@dataclass(frozen=True)
class ServedWorkspace:
    """What resolution needs to know of a Workspace of the cluster."""

    name: str
    kind: str  # inference | tuning
    model: str
    max_model_len: int | None


def resolve_inference(
    rag: RAGEngine,
    namespace: str,
    namespaces: tuple[str, ...],
    workspaces: Mapping[tuple[str, str], ServedWorkspace],
    *,
    maybe: Callable[[str, str], str] = lambda namespace, name: "",
) -> tuple[InferenceTarget | None, list[Finding]]:
    """The Workspace of this cluster the inference URL names, or why it names none that serves.

    A URL to a host outside the cluster, or to a namespace modelsync does not manage here,
    is taken as written. One into a managed namespace must name a Workspace that serves.
    ``maybe(namespace, name)`` says why an invalid file may define the Workspace (else
    ``""``): the engine then waits for that file, invalid too, and its release is kept.
    """
    url = rag.inference_url
    if not url:
        return None, []
    named = service_named(url, namespace, namespaces)
    if named is None or named[0] not in namespaces:
        return None, []
    where = ("spec", "inferenceService", "url")
    ns, service = named
    ws = workspaces.get(named)
    held = maybe(ns, service) if ws is None else ""
    if held:
        return None, [
            at(
                rag.document,
                where,
                f"names Workspace {ns}/{service}, which cannot be read now ({held})",
                code="inference",
            )
        ]
    if ws is None:
        names = [name for (n, name) in workspaces if n == ns]
        return None, [
            at(
                rag.document,
                where,
                f"names Service {service!r} in namespace {ns}, but no Workspace {ns}/{service} "
                f"is in this cluster{did_you_mean(service, names)}",
                code="inference",
            )
        ]
    if ws.kind != "inference":
        return None, [
            at(
                rag.document,
                where,
                f"names Workspace {ns}/{service}, a tuning Workspace: it serves no model",
                code="inference",
            )
        ]
    _, port = _authority(url)
    findings = []
    if port is not None and port != INFERENCE_SERVICE_PORT:
        findings.append(
            at(
                rag.document,
                where,
                f"Workspace {ns}/{service}'s Service listens on port {INFERENCE_SERVICE_PORT}, "
                f"not {port}",
                code="inference",
            )
        )
    window, length = rag.context_window, ws.max_model_len
    if window is not None and length is not None and window > length:
        findings.append(
            at(
                rag.document,
                ("spec", "inferenceService", "contextWindowSize"),
                f"{window} tokens, but Workspace {ns}/{service} serves at most {length} "
                "(its max-model-len); requests filled to the window would be refused",
                code="inference",
                severity=Severity.WARNING,
            )
        )
    return InferenceTarget(ns, service, ws.model, length), findings


def _authority(url: str) -> tuple[str, int | None]:
    match = _AUTHORITY.match(url)
    if match is None:
        return "", None
    port = match.group("port")
    return match.group("host").lower().rstrip("."), int(port) if port else None
