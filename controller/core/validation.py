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

from controller.core.catalog import Catalog
from controller.core.chartpolicy import ChartPolicy
from controller.core.claims import Claims, claims_of
from controller.core.clusterchecks import cluster_findings
from controller.core.documents import Document, SourceFile, parse_document
from controller.core.findings import (
    Finding,
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
from controller.core.packing import capacity_findings
from controller.core.placement import Placeable, Placement
from controller.core.policyfindings import cluster_policy_findings, held_by_cluster
from controller.core.ragengines import RAGEngine, ServedWorkspace, resolve_inference
from controller.core.schemas import SchemaSet
from controller.core.specs import Cluster, Workspace, cluster_from_document
from controller.core.workspacefile import Checks, WorkspaceResult, check_file


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
        self._memo: dict[tuple[str, str, str], tuple[WorkspaceResult, ...]] | None = (
            {} if memo else None
        )
        self._next: dict[tuple[str, str, str], tuple[WorkspaceResult, ...]] = {}

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
                orphans = self._files(orphan_files, None)
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
            workspaces = self._files(files, None)
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
        for checked in (r for f in files for r in self._remembered(f, spec, spec_digest)):
            result, ws = checked, checked.workspace
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
                    names[key] = result.path
            results.append(result)
        results = _resolve_inference(spec, results)
        placed: list[tuple[Placeable, Placement]] = [
            (r.workspace, r.placement)
            for r in results
            if r.workspace is not None and r.placement is not None and r.valid
        ]
        by_workspace: dict[int, list[Finding]] = defaultdict(list)
        for placeable, finding in capacity_findings(spec, placed):
            by_workspace[id(placeable)].append(finding)
        return tuple(
            replace(r, findings=(*r.findings, *by_workspace[id(r.workspace)]))
            if id(r.workspace) in by_workspace
            else r
            for r in results
        )

    @property
    def _checks(self) -> Checks:
        return Checks(self.schemas, self.catalog, self.policy)

    def _files(
        self, files: Sequence[SourceFile], spec: Cluster | None
    ) -> tuple[WorkspaceResult, ...]:
        return tuple(r for f in files for r in check_file(f, spec, self._checks))

    def _remembered(
        self, source: SourceFile, spec: Cluster, spec_digest: str
    ) -> tuple[WorkspaceResult, ...]:
        if self._memo is None:
            return check_file(source, spec, self._checks)
        key = (source.path, _digest(source), spec_digest)
        results = self._memo.get(key) or check_file(source, spec, self._checks)
        self._next[key] = results
        return results


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
