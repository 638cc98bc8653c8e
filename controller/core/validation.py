"""Validation of a clusters repo: files in, typed specs with placements and findings out.

The whole pure front half of the pipeline in one call, ``validate_files``: parse each file,
sort it to its cluster (the nearest ``cluster.yaml`` above it), check it against its
schema and the semantic rules, place and size it, then run the checks that need a whole
cluster (unique names, capacity). A file that fails never stops the others; its findings
say why and where.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from controller.core.catalog import Catalog, Preset
from controller.core.chartpolicy import ChartPolicy
from controller.core.checks import check_workspace
from controller.core.claims import Claim, Claims, claim_of, claims_of
from controller.core.clusterchecks import cluster_findings
from controller.core.documents import Document, SourceFile, parse_document
from controller.core.findings import (
    Finding,
    Severity,
    at,
    did_you_mean,
    from_document_error,
    has_errors,
)
from controller.core.layout import (
    CLUSTER_FILE,
    cluster_dirs,
    is_manifest_path,
    join,
    layout_findings,
    owner,
)
from controller.core.placement import (
    Placeable,
    Placement,
    capacity_findings,
    place,
    place_embedding,
)
from controller.core.policyfindings import cluster_policy_findings, held_by_cluster, volume_findings
from controller.core.ragengines import (
    InferenceTarget,
    RAGEngine,
    ServedWorkspace,
    check_ragengine,
    ragengine_from_document,
    resolve_inference,
)
from controller.core.schemas import SchemaSet
from controller.core.specs import (
    Cluster,
    Workspace,
    cluster_from_document,
    normalize_workspace,
    workspace_from_document,
)

#: The kinds a file may define; each valid one becomes a release named after it.
Spec = Workspace | RAGEngine


@dataclass(frozen=True)
class WorkspaceResult:
    """One file of a cluster: its Workspace or RAGEngine when it parsed, and everything
    found about it. A RAGEngine has no preset; its placement is None on CPU nodes."""

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
class ClusterResult:
    name: str
    directory: str
    cluster: Cluster | None
    workspaces: tuple[WorkspaceResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    sources: tuple[SourceFile, ...] = field(default=(), repr=False)
    cluster_source: SourceFile | None = field(default=None, repr=False)

    def claims(self) -> Claims:
        """The releases this cluster's broken files may still own: not to be pruned."""
        broken = [(w.path, w.claim) for w in self.workspaces if w.claim is not None]
        return claims_of(broken, self.findings)


@dataclass(frozen=True)
class Report:
    clusters: tuple[ClusterResult, ...]
    findings: tuple[Finding, ...]
    files: int
    orphans: tuple[WorkspaceResult, ...] = field(default=())

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.is_error)

    def cluster(self, name: str) -> ClusterResult | None:
        return next((c for c in self.clusters if c.name == name), None)


def validate_files(
    files: Iterable[SourceFile],
    *,
    schemas: SchemaSet,
    catalog: Catalog,
    cluster: str | None = None,
    policy: ChartPolicy | None = None,
) -> Report:
    """Validate a set of files of a clusters repo. ``cluster`` limits the report to one;
    ``policy`` bounds what Git may set in chart values (default: the strict one)."""
    return Validator(schemas, catalog, policy=policy).validate(files, cluster=cluster)


class Validator:
    """Validates clusters repos against one set of schemas and one preset catalog.

    With ``memo`` it keeps each file's own result from the previous run, keyed by the file's
    bytes and its cluster file's bytes, so the controller's next pass re-checks only what a
    commit changed. The checks across a cluster (unique names, capacity) always rerun.
    """

    def __init__(
        self,
        schemas: SchemaSet,
        catalog: Catalog,
        *,
        memo: bool = False,
        policy: ChartPolicy | None = None,
    ) -> None:
        self.schemas = schemas
        self.catalog = catalog
        self.policy = policy or ChartPolicy()
        self._memo: dict[tuple[str, str, str], WorkspaceResult] | None = {} if memo else None
        self._next: dict[tuple[str, str, str], WorkspaceResult] = {}

    def validate(self, files: Iterable[SourceFile], *, cluster: str | None = None) -> Report:
        self._next = {}
        files = list(files)
        sources = sorted((f for f in files if is_manifest_path(f.path)), key=lambda f: f.path)
        dirs, nested = cluster_dirs(sources)
        layout = layout_findings(files, dirs, nested)
        by_dir: dict[str | None, list[SourceFile]] = defaultdict(list)
        for source in sources:
            if posixpath.basename(source.path) != CLUSTER_FILE:
                by_dir[owner(source.path, dirs)].append(source)
        results: list[ClusterResult] = []
        for directory in sorted(dirs):
            cluster_source = next(f for f in sources if f.path == join(directory, CLUSTER_FILE))
            if cluster is not None and posixpath.basename(directory) != cluster:
                name, _, _ = self._read_cluster(directory, cluster_source)
                if name != cluster:
                    continue
            result = self._cluster(directory, cluster_source, by_dir.get(directory, []))
            if layout.get(directory):
                result = replace(result, findings=(*result.findings, *layout[directory]))
            results.append(result)
        orphans: tuple[WorkspaceResult, ...] = ()
        orphan_files = by_dir.get(None, [])
        if orphan_files:
            chosen = next((r for r in results if r.name == cluster), None) if cluster else None
            if chosen is not None and chosen.cluster is not None:
                both = [*chosen.sources, *orphan_files]
                workspaces = self._workspaces(chosen.cluster, _digest(chosen.cluster_source), both)
                results[results.index(chosen)] = replace(chosen, workspaces=workspaces)
            else:
                orphans = tuple(self._workspace(f, None) for f in orphan_files)
        if self._memo is not None:
            self._memo = self._next
        findings = [f for r in results for f in r.findings]
        findings += [f for r in results for w in r.workspaces for f in w.findings]
        findings += [f for w in orphans for f in w.findings]
        if cluster is not None and not any(r.name == cluster for r in results):
            names = sorted(posixpath.basename(d) for d in dirs)
            message = f"no cluster named {cluster!r} under the given paths"
            findings.append(
                Finding("", 1, 1, "", message + did_you_mean(cluster, names), code="cluster")
            )
        ordered = sorted(findings, key=lambda f: (f.file, f.line, f.column, f.field))
        return Report(tuple(results), tuple(ordered), len(sources), orphans)

    def _cluster(
        self, directory: str, source: SourceFile, files: Sequence[SourceFile]
    ) -> ClusterResult:
        name, spec, findings = self._read_cluster(directory, source)
        if spec is None:  # its Workspaces are still checked on their own, without fit or capacity
            workspaces = tuple(self._workspace(f, None) for f in files)
        else:
            # Refused chart settings hold that chart's releases, not the cluster's others.
            findings += cluster_policy_findings(spec, self.policy)[0]
            workspaces = self._workspaces(spec, _digest(source), files)
        return ClusterResult(
            name, directory, spec, workspaces, tuple(findings), tuple(files), source
        )

    def _read_cluster(
        self, directory: str, source: SourceFile
    ) -> tuple[str, Cluster | None, list[Finding]]:
        fallback = posixpath.basename(directory) or "."
        parsed = parse_document(source)
        if not isinstance(parsed, Document):
            return fallback, None, [from_document_error(parsed)]
        errors = self.schemas.validate("Cluster", parsed)
        if errors:
            return fallback, None, errors
        spec = cluster_from_document(parsed)
        findings = cluster_findings(spec, fallback, self.catalog)
        return spec.name, None if has_errors(findings) else spec, findings

    def _workspaces(
        self, spec: Cluster, spec_digest: str, files: Sequence[SourceFile]
    ) -> tuple[WorkspaceResult, ...]:
        names: dict[tuple[str, str], str] = {}
        results: list[WorkspaceResult] = []
        refused = cluster_policy_findings(spec, self.policy)[1]
        for source in files:
            result = self._remembered(source, spec, spec_digest)
            ws = result.workspace
            held = held_by_cluster(ws, refused) if ws is not None and result.cluster else None
            if held is not None:
                result = replace(result, findings=(*result.findings, held))
            if ws is not None and result.cluster is not None:
                key = (result.namespace, ws.name)
                if key in names:
                    duplicate = at(
                        ws.document,
                        ("metadata", "name"),
                        f"{key[0]}/{key[1]} is already defined in {names[key]} (Workspaces "
                        "and RAGEngines share names: each is the release of that name)",
                        code="duplicate",
                    )
                    result = replace(result, placement=None, findings=(*result.findings, duplicate))
                else:
                    names[key] = source.path
            results.append(result)
        results = _resolve_inference(spec, results)
        placed: list[tuple[Placeable, Placement]] = [
            (r.workspace, r.placement)
            for r in results
            if r.workspace is not None and r.placement is not None and r.valid
        ]
        by_file: dict[str, list[Finding]] = defaultdict(list)
        for finding in capacity_findings(spec, placed):
            by_file[finding.file].append(finding)
        return tuple(
            replace(r, findings=(*r.findings, *by_file[r.path])) if r.path in by_file else r
            for r in results
        )

    def _remembered(self, source: SourceFile, spec: Cluster, spec_digest: str) -> WorkspaceResult:
        if self._memo is None:
            return self._workspace(source, spec)
        key = (source.path, _digest(source), spec_digest)
        result = self._memo.get(key) or self._workspace(source, spec)
        self._next[key] = result
        return result

    def _workspace(self, source: SourceFile, spec: Cluster | None) -> WorkspaceResult:
        parsed = parse_document(source)
        if not isinstance(parsed, Document):
            return _failed(source.path, [from_document_error(parsed)], Claim())
        claim: Claim | None = claim_of(parsed.body, spec.default_namespace if spec else "default")
        kind = parsed.body.get("kind")
        if kind == "RAGEngine":
            return self._ragengine(parsed, spec, claim)
        if kind != "Workspace":
            api = str(parsed.body.get("apiVersion", ""))
            if kind is None:
                message, severity = (
                    "missing field 'kind' (expected Workspace or RAGEngine)",
                    Severity.ERROR,
                )
            elif api.startswith("kaito.sh/"):
                message, severity = (
                    f"KAITO {kind} is not managed by modelsync; ignored",
                    Severity.WARNING,
                )
            else:  # another API's object says what it is: it defines no Workspace
                message, severity, claim = (
                    f"kind {kind} is not managed by modelsync; ignored",
                    Severity.INFO,
                    None,
                )
            finding = at(parsed, ("kind",), message, code="kind", severity=severity)
            return _failed(source.path, [finding], claim)
        doc, normalized = normalize_workspace(parsed)
        findings = list(normalized)
        if any(f.is_error for f in findings):
            return _failed(source.path, findings, claim)
        errors = self.schemas.validate("Workspace", doc)
        if errors:
            return _failed(source.path, findings + errors, claim)
        ws = workspace_from_document(doc)
        checked, preset = check_workspace(
            ws, self.catalog, default_access_secret=spec.model_access_secret if spec else None
        )
        findings += checked + volume_findings(ws, self.policy)
        if spec is None:
            return WorkspaceResult(
                source.path, ws, None, ws.namespace or "default", preset, None, tuple(findings)
            )
        namespace = ws.namespace or spec.default_namespace
        findings += _namespace_findings(ws, spec)
        placement = None
        if preset is not None and not any(f.is_error for f in findings):
            placement, misfit = place(ws, preset, spec, self.catalog)
            findings += misfit
        return WorkspaceResult(
            source.path, ws, spec.name, namespace, preset, placement, tuple(findings)
        )

    def _ragengine(
        self, doc: Document, spec: Cluster | None, claim: Claim | None
    ) -> WorkspaceResult:
        errors = self.schemas.validate("RAGEngine", doc)
        if errors:
            return _failed(doc.path, errors, claim)
        rag = ragengine_from_document(doc)
        findings = check_ragengine(rag)
        if spec is None:
            return WorkspaceResult(
                doc.path, rag, None, rag.namespace or "default", None, None, tuple(findings)
            )
        findings += _namespace_findings(rag, spec)
        placement = None
        if not any(f.is_error for f in findings):
            placement, misfit = place_embedding(rag, spec, self.catalog)
            findings += misfit
        namespace = rag.namespace or spec.default_namespace
        return WorkspaceResult(
            doc.path, rag, spec.name, namespace, None, placement, tuple(findings)
        )


def _namespace_findings(spec: Spec, cluster: Cluster) -> list[Finding]:
    namespace = spec.namespace or cluster.default_namespace
    if namespace in cluster.namespaces:
        return []
    return [
        at(
            spec.document,
            ("metadata", "namespace") if spec.namespace else ("metadata",),
            f"namespace {namespace!r} is not allowed in cluster {cluster.name} "
            f"(allowed: {', '.join(cluster.namespaces)})"
            + did_you_mean(namespace, cluster.namespaces),
            code="namespace",
        )
    ]


def _resolve_inference(cluster: Cluster, results: list[WorkspaceResult]) -> list[WorkspaceResult]:
    """Each RAGEngine's inference URL against the cluster's Workspaces (ragengines.py)."""
    served: dict[tuple[str, str], ServedWorkspace] = {}
    for r in results:
        ws = r.workspace
        if isinstance(ws, Workspace) and r.cluster is not None:
            sizing = r.placement.inference if r.placement is not None else None
            model = r.preset.name if r.preset is not None else ""
            length = sizing.max_model_len if sizing is not None else None
            served[(r.namespace, ws.name)] = ServedWorkspace(ws.name, ws.kind, model, length)
    # A broken file may be the Workspace a URL names: the engine waits for it (ragengines.py).
    broken = claims_of([(r.path, r.claim) for r in results if r.claim is not None])
    out = []
    for r in results:
        if isinstance(r.workspace, RAGEngine) and r.cluster is not None:
            target, findings = resolve_inference(
                r.workspace,
                r.namespace,
                cluster.namespaces,
                served,
                maybe=lambda ns, name: broken.holder(ns, name, ""),
            )
            out.append(replace(r, inference=target, findings=(*r.findings, *findings)))
        else:
            out.append(r)
    return out


def _digest(source: SourceFile | None) -> str:
    if source is None:
        return ""
    content = source.data if source.data is not None else (source.error or "").encode()
    return hashlib.blake2b(content, digest_size=16).hexdigest()


def _failed(path: str, findings: list[Finding], claim: Claim | None) -> WorkspaceResult:
    """A result for a file that did not become a Workspace (its findings say why)."""
    return WorkspaceResult(path, None, None, "", None, None, tuple(findings), claim)
