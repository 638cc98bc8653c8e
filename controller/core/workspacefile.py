"""One Workspace file of a cluster to its results: one per YAML document it holds.

Pure, called by ``validation`` for each file it sorted to a cluster. Each document is
read on its own, so one bad document never hides its neighbours. A RAGEngine is checked
by ``ragengines`` and placed for its embedding model (its inference URL is resolved
across the cluster's files by ``validation``). For a Workspace, a KAITO v1alpha1
Workspace is converted to v1beta1 (``kaito_v1alpha1``), fields nested under ``spec:``
are lifted (``specs.normalize_workspace``), the schema applies, and the semantic checks
run, on what the schema accepted when it refused some fields (``salvage``), so every
problem is reported at once. A Workspace that passes is placed on a node pool: sized
from its preset, or, for a custom pod template, given the GPUs its containers request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from controller.core.catalog import Catalog, Preset
from controller.core.chartpolicy import ChartPolicy
from controller.core.checks import check_workspace
from controller.core.claims import Claim, claim_of
from controller.core.documents import Document, SourceFile, parse_documents
from controller.core.findings import Finding, Severity, at, did_you_mean, from_document_error
from controller.core.kaito_v1alpha1 import convert_v1alpha1
from controller.core.placement import Placement, place, place_embedding, place_template
from controller.core.policyfindings import volume_findings
from controller.core.ragengines import (
    InferenceTarget,
    RAGEngine,
    check_ragengine,
    ragengine_from_document,
)
from controller.core.salvage import salvage, unrelated
from controller.core.schemas import SchemaSet
from controller.core.specs import Cluster, Workspace, normalize_workspace, workspace_from_document

#: The kinds a file may define; each valid one becomes a release named after it.
Spec = Workspace | RAGEngine


@dataclass(frozen=True)
class WorkspaceResult:
    """One document of a cluster's file: its Workspace or RAGEngine when it parsed, and
    everything found about it. A RAGEngine has no preset; its placement is None on CPU nodes."""

    path: str
    workspace: Spec | None
    cluster: str | None
    namespace: str
    preset: Preset | None
    placement: Placement | None
    findings: tuple[Finding, ...]
    unparsed: Claim | None = None  # what a file that is no Workspace may be (claims.py)
    inference: InferenceTarget | None = None  # the Workspace a RAGEngine's URL names

    @property
    def valid(self) -> bool:
        return self.workspace is not None and not any(f.is_error for f in self.findings)

    @property
    def placed(self) -> bool:
        """Valid and sized: a Workspace on a pool, a RAGEngine on a pool or on CPU nodes."""
        return self.valid and (self.placement is not None or isinstance(self.workspace, RAGEngine))

    @property
    def claim(self) -> Claim | None:
        """The Workspace an invalid file may still define (its release is kept), or None."""
        if self.valid:
            return None
        if self.workspace is not None:
            return Claim(self.namespace, self.workspace.name)
        return self.unparsed


@dataclass(frozen=True)
class Checks:
    """What checking a file needs besides the file: the schemas, the catalog (with the
    repo's own presets) and the controller's chart policy."""

    schemas: SchemaSet
    catalog: Catalog
    policy: ChartPolicy


def check_file(
    source: SourceFile, spec: Cluster | None, checks: Checks
) -> tuple[WorkspaceResult, ...]:
    """Results for every document of ``source`` (``spec``: its cluster, when that is valid)."""
    parsed = parse_documents(source)
    if not isinstance(parsed, list):
        return (failed(source.path, [from_document_error(parsed)], Claim()),)
    return tuple(_document(doc, spec, checks) for doc in parsed)


def _document(parsed: Document, spec: Cluster | None, checks: Checks) -> WorkspaceResult:
    path = parsed.path
    schemas, catalog = checks.schemas, checks.catalog
    claim: Claim | None = claim_of(parsed.body, spec.default_namespace if spec else "default")
    kind = parsed.body.get("kind")
    if kind == "RAGEngine":
        return _ragengine(parsed, spec, checks, claim)
    if kind != "Workspace":
        api = str(parsed.body.get("apiVersion", ""))
        if kind is None:
            message = "missing field 'kind' (expected Workspace or RAGEngine)"
            severity = Severity.ERROR
        elif api.startswith("kaito.sh/"):
            message = f"KAITO {kind} is not managed by modelsync; ignored"
            severity = Severity.WARNING
        else:  # another API's object says what it is: it defines no Workspace
            message, severity, claim = (
                f"kind {kind} is not managed by modelsync; ignored",
                Severity.INFO,
                None,
            )
        return failed(path, [at(parsed, ("kind",), message, code="kind", severity=severity)], claim)
    converted, findings = convert_v1alpha1(parsed)
    doc, normalized = normalize_workspace(converted)
    findings += normalized
    if any(f.is_error for f in normalized):
        return failed(path, findings, claim)
    default_secret = spec.model_access_secret if spec else None
    errors = schemas.validate("Workspace", doc)
    if errors or any(f.is_error for f in findings):
        kept = salvage(schemas, "Workspace", doc) if errors else (doc, ())
        if kept is not None:
            partial, cut = kept
            checked, _ = check_workspace(
                workspace_from_document(partial), catalog, default_access_secret=default_secret
            )
            findings += unrelated(checked, cut)
        return failed(path, findings + errors, claim)
    ws = workspace_from_document(doc)
    checked, preset = check_workspace(ws, catalog, default_access_secret=default_secret)
    findings += checked + volume_findings(ws, checks.policy)
    if spec is None:
        namespace = ws.namespace or "default"
        return WorkspaceResult(path, ws, None, namespace, preset, None, tuple(findings))
    namespace = ws.namespace or spec.default_namespace
    findings += _namespace_findings(ws, namespace, spec)
    placement = None
    if not any(f.is_error for f in findings):
        if ws.inference is not None and ws.inference.has_template:
            placement, misfit = place_template(ws, spec, catalog)
            findings += misfit
        elif preset is not None:
            placement, misfit = place(ws, preset, spec, catalog)
            findings += misfit
    return WorkspaceResult(path, ws, spec.name, namespace, preset, placement, tuple(findings))


def _ragengine(
    doc: Document, spec: Cluster | None, checks: Checks, claim: Claim | None
) -> WorkspaceResult:
    errors = checks.schemas.validate("RAGEngine", doc)
    if errors:
        return failed(doc.path, errors, claim)
    rag = ragengine_from_document(doc)
    findings = check_ragengine(rag)
    if spec is None:
        namespace = rag.namespace or "default"
        return WorkspaceResult(doc.path, rag, None, namespace, None, None, tuple(findings))
    namespace = rag.namespace or spec.default_namespace
    findings += _namespace_findings(rag, namespace, spec)
    placement = None
    if not any(f.is_error for f in findings):
        placement, misfit = place_embedding(rag, spec, checks.catalog)
        findings += misfit
    return WorkspaceResult(doc.path, rag, spec.name, namespace, None, placement, tuple(findings))


def _namespace_findings(ws: Spec, namespace: str, spec: Cluster) -> list[Finding]:
    if namespace in spec.namespaces:
        return []
    return [
        at(
            ws.document,
            ("metadata", "namespace") if ws.namespace else ("metadata",),
            f"namespace {namespace!r} is not allowed in cluster {spec.name} "
            f"(allowed: {', '.join(spec.namespaces)})" + did_you_mean(namespace, spec.namespaces),
            code="namespace",
        )
    ]


def failed(path: str, findings: Sequence[Finding], claim: Claim | None) -> WorkspaceResult:
    """A result for a document that did not become a Workspace (its findings say why)."""
    return WorkspaceResult(path, None, None, "", None, None, tuple(findings), claim)
