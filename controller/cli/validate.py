"""``modelsync validate``: check a clusters repo the way a pull request's CI does.

Exit 0 when nothing is wrong (warnings allowed), 1 when there are findings of severity
error, 2 on usage or internal errors. ``--format github`` prints workflow commands that
GitHub turns into annotations on the pull request's files.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from controller.adapters.bundled import load_bundle
from controller.adapters.files import read_paths
from controller.adapters.localcatalog import local_catalog, presets_beside
from controller.cli.output import add_output_option, emit, selected
from controller.cli.policyflag import PolicyFileError, add_policy_flag, policy_of
from controller.core.capacity import cluster_usage
from controller.core.findings import Finding, Severity
from controller.core.layout import CLUSTER_FILE
from controller.core.ragengines import RAGEngine
from controller.core.validation import Report, validate_files
from controller.core.workspacefile import WorkspaceResult


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "validate",
        help="validate Workspaces and clusters (schema, presets, fit, capacity)",
        description="Validate Workspace and cluster files: schema, presets, GPU fit and capacity.",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="files or directories (default: ./clusters, else .)",
    )
    parser.add_argument("--cluster", metavar="NAME", help="only this cluster")
    formats = parser.add_mutually_exclusive_group()
    add_output_option(formats)
    formats.add_argument(
        "--format",
        choices=("text", "json", "github"),
        help="github: workflow commands that annotate the pull request's files; "
        "text and json are the older names of -o table and -o json",
    )
    parser.add_argument(
        "--explain", action="store_true", help="print the GPU sizing arithmetic of every Workspace"
    )
    add_policy_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    paths: list[Path] = args.paths or [Path("clusters") if Path("clusters").is_dir() else Path()]
    missing = [p for p in paths if not p.exists() and not p.is_symlink()]
    if missing:
        print(f"modelsync validate: no such file or directory: {missing[0]}", file=sys.stderr)
        return 2
    try:
        policy = policy_of(args)
    except PolicyFileError as e:
        print(f"modelsync validate: {e}", file=sys.stderr)
        return 2
    bundle = load_bundle()
    expanded, wanted = in_context(paths)
    files = read_paths(expanded, Path.cwd())
    local = local_catalog(bundle, presets_beside(paths[0]), Path.cwd())
    full = validate_files(
        files, schemas=bundle.schemas, catalog=local.catalog, cluster=args.cluster, policy=policy
    )
    unknown = next((f for f in full.findings if f.code == "cluster" and not f.file), None)
    if args.cluster is not None and unknown is not None:
        # A usage error, not a finding: a CI step naming the wrong cluster must not pass.
        print(f"modelsync validate: {unknown.message}", file=sys.stderr)
        return 2
    if not full.clusters and not full.errors:
        # Nothing found is not a pass: a CI step pointed at the wrong folder must go red.
        where = ", ".join(str(p) for p in paths)
        print(
            f"modelsync validate: nothing to validate: no {CLUSTER_FILE} under {where}",
            file=sys.stderr,
        )
        return 2
    if any(c.cluster is not None and c.cluster.charts.get("values") for c in full.clusters):
        from controller.adapters.charts import ChartSource  # the Helm SDK, only when needed
        from controller.cli.rendercheck import rendered_findings

        rendered = rendered_findings(full, ChartSource(bundle.charts_dir, policy=policy))
        ordered = sorted((*full.findings, *rendered), key=lambda f: (f.file, f.line, f.column))
        full = replace(full, findings=tuple(ordered))
    pools = pool_usage(full)  # pools are the whole cluster's, even when one file is asked about
    report = focus(full, wanted)
    report = replace(report, findings=(*local.findings, *report.findings))
    out = sys.stdout
    output = selected(args, {"text": "table"})
    if output == "github":
        write_github(report, out)
    else:
        emit(
            report_json(report, pools),
            output,
            lambda: write_text(report, pools, out, explain=args.explain),
        )
    return 1 if report.errors else 0


def in_context(paths: list[Path]) -> tuple[list[Path], set[str]]:
    """Files inside a cluster directory are validated with their whole cluster (fit,
    capacity and unique names depend on the neighbours). Returns what to read and which
    files to report on; an empty set (a directory was given) means everything."""
    cwd = Path.cwd().absolute()
    expanded: list[Path] = []
    wanted: set[str] = set()
    everything = False
    for path in paths:
        absolute = path.absolute()
        home = next((d for d in absolute.parents if (d / CLUSTER_FILE).is_file()), None)
        if path.is_file() and home is not None and absolute.is_relative_to(cwd):
            expanded.append(home)
            wanted.add(absolute.relative_to(cwd).as_posix())
        else:
            expanded.append(path)
            everything = True
    return expanded, set() if everything else wanted


def focus(report: Report, wanted: set[str]) -> Report:
    if not wanted:
        return report
    keep = wanted | {f"{c.directory}/{CLUSTER_FILE}" for c in report.clusters} | {""}
    clusters = tuple(
        replace(c, workspaces=tuple(w for w in c.workspaces if w.path in wanted))
        for c in report.clusters
    )
    findings = [f for f in report.findings if f.file in keep]
    findings += _capacity_for(report, wanted)
    return Report(clusters, tuple(findings), len(wanted), report.orphans)


def _capacity_for(report: Report, wanted: set[str]) -> list[Finding]:
    """An over-capacity pool concerns every Workspace on it, whichever one the packing left
    out: repeat the finding at the files asked about."""
    results = [w for c in report.clusters for w in c.workspaces]
    pool_of = {w.path: (w.cluster, w.placement.pool.name) for w in results if w.placement}
    full = {
        pool_of[f.file]: f for f in report.findings if f.code == "capacity" and f.file in pool_of
    }
    extra = []
    for w in results:
        finding = full.get(pool_of.get(w.path, ("", "")))
        if w.path in wanted and finding is not None and finding.file != w.path and w.workspace:
            where = w.workspace.document.locate(w.workspace.resource_field)
            extra.append(replace(finding, file=w.path, line=where.line, column=where.column))
    return extra


def workspaces(report: Report) -> list[WorkspaceResult]:
    return [w for c in report.clusters for w in c.workspaces] + list(report.orphans)


def _label(finding: Finding) -> str:
    where = f"{finding.file}:{finding.line}:{finding.column}" if finding.file else "modelsync"
    field = f"{finding.field}: " if finding.field else ""
    return f"{where}: {finding.severity}: {field}{finding.message} [{finding.code}]"


def _summary(result: WorkspaceResult) -> str:
    p, spec = result.placement, result.workspace
    if isinstance(spec, RAGEngine):
        where = "CPU nodes" if p is None else f"pool {p.pool.name} ({p.gpu}), 1 GPU"
        answers = (
            f"answers through Workspace {result.inference.workspace} ({result.inference.model})"
            if result.inference is not None
            else f"answers through {spec.inference_url}"
            if spec.inference_url
            else "retrieval only"
        )
        return (
            f"{result.cluster}/{result.namespace}/{spec.name}: RAGEngine, embedding "
            f"{spec.embedding_model} on {where}, {answers}"
        )
    if spec is None or p is None:
        return ""
    if p.inference is not None:
        size = p.inference
        split = f"TP {size.tensor_parallel}"
        if size.pipeline_parallel > 1:
            split += f" x PP {size.pipeline_parallel}"
        detail = f"{split}, max-model-len {size.max_model_len}"
        if size.capped:
            detail += f" (capped from {size.requested_max_model_len})"
    else:
        detail = f"{spec.tuning.method if spec.tuning else ''} tuning"
    preset = result.preset.name if result.preset else "?"
    shape = (
        f"1 multi-node group of {p.nodes} nodes x {p.gpus_per_replica} GPU"
        if p.nodes > 1
        else f"{p.replicas} x {p.gpus_per_replica} GPU"
    )
    return (
        f"{result.cluster}/{result.namespace}/{spec.name}: {preset} on pool "
        f"{p.pool.name} ({p.gpu}), {shape}, {detail}"
    )


def write_text(
    report: Report, pools: list[tuple[str, int, int]], out: TextIO, *, explain: bool = False
) -> None:
    for finding in report.findings:
        out.write(_label(finding) + "\n")
    results = workspaces(report)
    for result in results:
        line = _summary(result)
        if line and result.valid:
            out.write(f"ok  {line}\n")
        if explain and result.placement is not None:
            out.write("\n".join(result.placement.explain) + "\n")
    for name, used, have in pools:
        out.write(f"pool {name}: {used} of {have} GPUs requested\n")
    counts: dict[Severity, int] = defaultdict(int)
    for finding in report.findings:
        counts[finding.severity] += 1
    clusters = len(report.clusters)
    scope = (
        f"{report.files} files, {clusters} cluster{'s' * (clusters != 1)}, {valid_specs(results)}"
    )
    if counts[Severity.ERROR]:
        out.write(
            f"FAIL {counts[Severity.ERROR]} errors, {counts[Severity.WARNING]} warnings ({scope})\n"
        )
    else:
        out.write(f"PASS {counts[Severity.WARNING]} warnings ({scope})\n")


def valid_specs(results: Iterable[WorkspaceResult]) -> str:
    """``N valid Workspaces``, and ``, M valid RAGEngines`` when there are any."""
    valid = [r.workspace for r in results if r.valid]
    rags = sum(1 for spec in valid if isinstance(spec, RAGEngine))
    text = f"{len(valid) - rags} valid Workspaces"
    return text + (f", {rags} valid RAGEngine{'s' * (rags != 1)}" if rags else "")


def pool_usage(report: Report) -> list[tuple[str, int, int]]:
    return [
        (f"{cluster.name}/{pool.name}", pool.used, pool.total)
        for cluster in report.clusters
        for pool in cluster_usage(cluster)
    ]


def report_json(report: Report, pools: list[tuple[str, int, int]]) -> dict[str, Any]:
    def placement(result: WorkspaceResult) -> dict[str, Any] | None:
        p = result.placement
        if p is None:
            return None
        out: dict[str, Any] = {
            "pool": p.pool.name,
            "gpu": p.gpu,
            "replicas": p.replicas,
            "gpusPerReplica": p.gpus_per_replica,
            "nodesPerReplica": p.nodes,
        }
        if p.inference is not None:
            out |= {
                "tensorParallelSize": p.inference.tensor_parallel,
                "pipelineParallelSize": p.inference.pipeline_parallel,
                "maxModelLen": p.inference.max_model_len,
            }
        return out

    return {
        "valid": report.errors == 0,
        "files": report.files,
        "findings": [
            {
                "file": f.file,
                "line": f.line,
                "column": f.column,
                "field": f.field,
                "severity": str(f.severity),
                "code": f.code,
                "message": f.message,
            }
            for f in report.findings
        ],
        "workspaces": [
            {
                "file": r.path,
                "cluster": r.cluster,
                "namespace": r.namespace,
                "name": r.workspace.name if r.workspace else None,
                "kind": r.workspace.kind if r.workspace else None,
                "preset": r.preset.name if r.preset else None,
                "valid": r.valid,
                "placement": placement(r),
            }
            for r in workspaces(report)
        ],
        "pools": [
            {"pool": name, "gpusRequested": used, "gpus": have} for name, used, have in pools
        ],
    }


def _escape(text: str, *, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def write_github(report: Report, out: TextIO) -> None:
    """GitHub Actions workflow commands: one annotation per finding."""
    for f in report.findings:
        props = [f"title={_escape('modelsync ' + f.code, property_value=True)}"]
        if f.file:
            props = [
                f"file={_escape(f.file, property_value=True)}",
                f"line={f.line}",
                f"col={f.column}",
                *props,
            ]
        field = f"{f.field}: " if f.field else ""
        out.write(f"::{_COMMANDS[f.severity]} {','.join(props)}::{_escape(field + f.message)}\n")
    status = "failed" if report.errors else "passed"
    out.write(f"modelsync validate {status}: {report.errors} errors in {report.files} files\n")
