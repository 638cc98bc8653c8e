"""``modelsync render FILE``: the manifests a Workspace file becomes, without a cluster.

The Workspace is validated in its cluster (the nearest ``cluster.yaml`` above it), sized,
turned into chart values and rendered with the Helm SDK, like ``helm template``. A file of
several documents renders each Workspace in it, one after the other; its other kinds (a
ConfigMap beside the Workspace, as KAITO's examples have) are left out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from controller.adapters.bundled import load_bundle
from controller.adapters.files import read_paths
from controller.adapters.localcatalog import local_catalog, presets_beside
from controller.cli.output import add_output_option, emit, selected
from controller.cli.policyflag import PolicyFileError, add_policy_flag, policy_of
from controller.core.layout import CLUSTER_FILE
from controller.core.releases import desired_release
from controller.core.validation import validate_files


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("render", help="print the manifests a Workspace file becomes")
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.add_argument("--values", action="store_true", help="print the chart values instead")
    add_policy_flag(parser)
    # YAML is what Helm renders (comments and document order kept); JSON is a list of objects.
    add_output_option(parser, choices=("yaml", "json"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    path: Path = args.file.resolve()
    if not path.is_file():
        print(f"modelsync render: no such file: {args.file}", file=sys.stderr)
        return 2
    cluster_dir = next((d for d in path.parents if (d / CLUSTER_FILE).is_file()), None)
    if cluster_dir is None:
        print(f"modelsync render: no {CLUSTER_FILE} above {args.file}", file=sys.stderr)
        return 2
    try:
        policy = policy_of(args)
    except PolicyFileError as e:
        print(f"modelsync render: {e}", file=sys.stderr)
        return 2
    from controller.adapters.charts import ChartError, ChartSource

    root = cluster_dir.parent
    bundle = load_bundle()
    local = local_catalog(bundle, presets_beside(cluster_dir), root)
    report = validate_files(
        read_paths([cluster_dir], root),
        schemas=bundle.schemas,
        catalog=local.catalog,
        policy=policy,
    )
    name = path.relative_to(root).as_posix()
    cluster = next((c for c in report.clusters if c.directory == cluster_dir.name), None)
    results = [w for w in (cluster.workspaces if cluster else ()) if w.path == name and w.workspace]
    if (
        cluster is None
        or cluster.cluster is None
        or not results
        or not all(w.valid for w in results)
    ):
        errors = [f for f in report.findings if f.is_error and f.file in (name, "")] or [
            f for f in (*local.findings, *report.findings) if f.is_error
        ]
        for f in errors:
            print(f"{f.file}:{f.line}:{f.column}: error: {f.field}: {f.message}", file=sys.stderr)
        if not errors:
            print(f"modelsync render: {args.file} is not a Workspace", file=sys.stderr)
        return 1
    charts = ChartSource(bundle.charts_dir, policy=policy)
    releases = [desired_release(w, cluster.cluster, charts.versions()) for w in results]
    output = selected(args)
    if args.values:
        values = [dict(release.values) for release in releases]
        if output == "json":
            emit(values, "json", lambda: None)  # a list, one per Workspace, like the manifests
        else:
            sys.stdout.write(yaml.safe_dump_all(values, sort_keys=False))
        return 0
    try:
        manifests = "".join(charts.render(release) for release in releases)
    except ChartError as e:
        print(f"modelsync render: {e}", file=sys.stderr)
        return 1
    if output == "json":
        emit([m for m in yaml.safe_load_all(manifests) if m], "json", lambda: None)
    else:
        sys.stdout.write(manifests)
    return 0
