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
from controller.core.claims import Claims, claims_of
from controller.core.documents import Document, SourceFile, parse_document
from controller.core.findings import (
    Finding,
    Severity,
    at,
    did_you_mean,
    from_document_error,
    has_errors,
)
from controller.core.karpenter import auto_provision_findings
from controller.core.layout import (
    CLUSTER_FILE,
    cluster_dirs,
    is_manifest_path,
    join,
    layout_findings,
    owner,
)
from controller.core.placement import capacity_findings, pool_gpu
from controller.core.schemas import SchemaSet
from controller.core.specs import Cluster, cluster_from_document
from controller.core.workspacefile import WorkspaceResult, check_file


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
) -> Report:
    """Validate a set of files of a clusters repo. ``cluster`` limits the report to one."""
    return Validator(schemas, catalog).validate(files, cluster=cluster)


class Validator:
    """Validates clusters repos against one set of schemas and one preset catalog.

    With ``memo`` it keeps each file's own result from the previous run, keyed by the file's
    bytes and its cluster file's bytes, so the controller's next pass re-checks only what a
    commit changed. The checks across a cluster (unique names, capacity) always rerun.
    """

    def __init__(self, schemas: SchemaSet, catalog: Catalog, *, memo: bool = False) -> None:
        self.schemas = schemas
        self.catalog = catalog
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
        findings = _cluster_findings(spec, fallback, self.catalog)
        return spec.name, None if has_errors(findings) else spec, findings

    def _workspaces(
        self, spec: Cluster, spec_digest: str, files: Sequence[SourceFile]
    ) -> tuple[WorkspaceResult, ...]:
        names: dict[tuple[str, str], str] = {}
        results: list[WorkspaceResult] = []
        for checked in (r for f in files for r in self._remembered(f, spec, spec_digest)):
            result, ws = checked, checked.workspace
            if ws is not None and result.cluster is not None:
                key = (result.namespace, ws.name)
                if key in names:
                    duplicate = at(
                        ws.document,
                        ("metadata", "name"),
                        f"Workspace {key[0]}/{key[1]} is already defined in {names[key]}",
                        code="duplicate",
                    )
                    result = replace(result, placement=None, findings=(*result.findings, duplicate))
                else:
                    names[key] = result.path
            results.append(result)
        placed = [
            (r.workspace, r.placement)
            for r in results
            if r.workspace is not None and r.placement is not None and r.valid
        ]
        by_workspace: dict[int, list[Finding]] = defaultdict(list)
        for ws, finding in capacity_findings(spec, placed):
            by_workspace[id(ws)].append(finding)
        return tuple(
            replace(r, findings=(*r.findings, *by_workspace[id(r.workspace)]))
            if id(r.workspace) in by_workspace
            else r
            for r in results
        )

    def _files(
        self, files: Sequence[SourceFile], spec: Cluster | None
    ) -> tuple[WorkspaceResult, ...]:
        return tuple(r for f in files for r in check_file(f, spec, self.schemas, self.catalog))

    def _remembered(
        self, source: SourceFile, spec: Cluster, spec_digest: str
    ) -> tuple[WorkspaceResult, ...]:
        if self._memo is None:
            return check_file(source, spec, self.schemas, self.catalog)
        key = (source.path, _digest(source), spec_digest)
        results = self._memo.get(key) or check_file(source, spec, self.schemas, self.catalog)
        self._next[key] = results
        return results


def _cluster_findings(spec: Cluster, directory_name: str, catalog: Catalog) -> list[Finding]:
    doc, findings = spec.document, []
    if spec.name != directory_name:
        findings.append(
            at(
                doc,
                ("metadata", "name"),
                f"cluster {spec.name!r} lives in directory {directory_name!r}; name them the same",
                code="cluster",
                severity=Severity.WARNING,
            )
        )
    if spec.default_namespace not in spec.namespaces:
        findings.append(
            at(
                doc,
                ("spec", "defaults", "namespace"),
                f"default namespace {spec.default_namespace!r} is not in spec.namespaces",
                code="cluster",
            )
        )
    seen: set[str] = set()
    for i, pool in enumerate(spec.node_pools):
        path = ("spec", "nodePools", i)
        if pool.name in seen:
            findings.append(
                at(
                    doc,
                    (*path, "name"),
                    f"node pool {pool.name!r} is declared twice",
                    code="cluster",
                )
            )
        seen.add(pool.name)
        if pool_gpu(pool, catalog) is None:
            close = catalog.closest_gpu(pool.gpu)
            hint = f" (did you mean {close!r}?)" if close else ""
            findings.append(
                at(
                    doc,
                    (*path, "gpu"),
                    f"unknown GPU {pool.gpu!r}{hint}; presets/gpus.yaml lists the known ones",
                    code="cluster",
                )
            )
            continue
        known = catalog.instance_type(pool.instance_type) if pool.instance_type else None
        gpu = catalog.gpu(pool.gpu)
        if (
            known is not None
            and gpu is not None
            and (catalog.gpu(known.gpu) != gpu or known.gpu_count != pool.gpus_per_node)
        ):
            findings.append(
                at(
                    doc,
                    (*path, "instanceType"),
                    f"{known.name} carries {known.gpu_count} x {known.gpu}, but the pool "
                    f"says {pool.gpus_per_node} x {gpu.name}",
                    code="cluster",
                    severity=Severity.WARNING,
                )
            )
    return findings + auto_provision_findings(spec, catalog)


def _digest(source: SourceFile | None) -> str:
    if source is None:
        return ""
    content = source.data if source.data is not None else (source.error or "").encode()
    return hashlib.blake2b(content, digest_size=16).hexdigest()
