"""``modelsync diff``: what merging a change would do to each cluster's releases and to
the Karpenter NodePools and NodeClasses its cluster file renders.

Like ``flux diff`` / ``argocd app diff``: exit 0 when nothing changes, 1 when something
does, 2 on errors. ``--format markdown`` writes a pull-request comment.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.adapters.bundled import load_bundle
from controller.cli.output import add_output_option, emit, selected
from controller.cli.policyflag import PolicyFileError, add_policy_flag, policy_of
from controller.core.changes import (
    Change,
    ChangeKind,
    ObjectChange,
    compare,
    compare_objects,
    unified,
)
from controller.core.chartpolicy import ChartPolicy
from controller.core.claims import NO_CLAIMS, Claims, source_id
from controller.core.findings import Finding, did_you_mean
from controller.core.localpresets import presets_dir_for, with_local_presets
from controller.core.nodepools import node_pool_manifests
from controller.core.releases import DesiredRelease, desired_releases
from controller.core.validation import validate_files

if TYPE_CHECKING:
    from controller.adapters.charts import ChartSource
    from controller.adapters.gitsource import LocalRepository

_SIGN = {ChangeKind.ADDED: "+", ChangeKind.CHANGED: "~", ChangeKind.REMOVED: "-"}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("diff", help="releases added, changed and removed between revs")
    parser.add_argument("--base", required=True, metavar="REV", help="e.g. origin/main")
    parser.add_argument("--head", default="HEAD", metavar="REV", help="default HEAD")
    parser.add_argument("--repo", type=Path, default=Path(), help="a local repository (default .)")
    parser.add_argument(
        "--path", default="clusters", help="folder of the clusters (default clusters)"
    )
    parser.add_argument("--cluster", help="only this cluster")
    formats = parser.add_mutually_exclusive_group()
    add_output_option(formats)
    formats.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        help="markdown: a pull-request comment; text and json are the older names of "
        "-o table and -o json",
    )
    parser.add_argument("--no-manifests", action="store_true", help="values only, no rendering")
    add_policy_flag(parser)
    parser.set_defaults(handler=run)


@dataclass(frozen=True)
class Revision:
    """What one commit of the clusters repo asks of the clusters."""

    releases: list[DesiredRelease]
    errors: list[Finding]
    claims: dict[str, Claims]  # every cluster's: what its broken files may still define
    objects: dict[str, list[dict[str, Any]]]  # NodePools and NodeClasses of valid clusters


def releases_at(
    repo: LocalRepository,
    commit: str,
    path: str,
    cluster: str | None,
    policy: ChartPolicy | None = None,
) -> Revision:
    """The releases of ``cluster`` (all when None) at ``commit``, the errors there, for
    every cluster the commit holds what its broken files may still define (the controller
    keeps those releases: claims.py), and the Karpenter objects of each valid cluster."""
    from controller.adapters.charts import ChartSource

    bundle = load_bundle()
    charts = ChartSource(bundle.charts_dir)
    local = with_local_presets(
        bundle.catalog, repo.read_tree(commit, presets_dir_for(path)), bundle.schemas
    )
    report = validate_files(
        repo.read_tree(commit, path), schemas=bundle.schemas, catalog=local.catalog, policy=policy
    )
    releases = [
        d
        for c in report.clusters
        if cluster in (None, c.name)
        for d in desired_releases(c, charts.versions())
    ]
    errors = [f for f in (*local.findings, *report.findings) if f.is_error]
    claims = {c.name: c.claims() for c in report.clusters}
    objects = {
        c.name: node_pool_manifests(c.cluster, local.catalog)
        for c in report.clusters
        if c.cluster is not None and cluster in (None, c.name)
    }
    return Revision(releases, errors, claims, objects)


def run(args: argparse.Namespace) -> int:
    from controller.adapters.charts import ChartSource
    from controller.adapters.gitsource import LocalRepository

    try:
        policy = policy_of(args)
    except PolicyFileError as e:
        print(f"modelsync diff: {e}", file=sys.stderr)
        return 2
    repo = LocalRepository(args.repo)
    base, head = repo.resolve(args.base), repo.resolve(args.head)
    old = releases_at(repo, base, args.path, args.cluster, policy)
    new = releases_at(repo, head, args.path, args.cluster, policy)
    before, after, errors, claims = old.releases, new.releases, new.errors, new.claims
    names = {*old.claims, *claims}
    if not names:
        # Nothing found is not "no release changes": CI pointed at the wrong folder must fail.
        print(
            f"modelsync diff: nothing to diff: no cluster under {args.path}/ at "
            f"{args.base} or {args.head}",
            file=sys.stderr,
        )
        return 2
    if args.cluster is not None and args.cluster not in names:
        # A typo must not read as "no release changes": CI would pass on it.
        hint = did_you_mean(args.cluster, names)
        print(
            f"modelsync diff: no cluster {args.cluster!r} under {args.path}/{hint}", file=sys.stderr
        )
        return 2
    changes = [
        c
        for c in compare(before, after)
        if not (c.kind is ChangeKind.REMOVED and _held(c.release, claims))
    ]
    charts = ChartSource(load_bundle().charts_dir, policy=policy)
    manifests = (
        {}
        if args.no_manifests
        else {(c.cluster, c.namespace, c.name): _manifest_diff(charts, c) for c in changes}
    )
    objects = compare_objects(old.objects, new.objects)
    diff = Diff(changes, objects, manifests, errors)
    output = selected(args, {"text": "table"})
    if output == "markdown":
        sys.stdout.write(_markdown(diff, base, head))
    else:
        emit(_data(diff, base, head), output, lambda: sys.stdout.write(_text(diff, base, head)))
    return 1 if changes or objects else 0


def _held(release: DesiredRelease, claims: Mapping[str, Claims]) -> bool:
    held = claims.get(release.cluster, NO_CLAIMS)
    return bool(held.holder(release.namespace, release.workspace, source_id(release.source)))


def _manifest_diff(charts: ChartSource, change: Change) -> str:
    from controller.adapters.charts import ChartError

    def render(release: DesiredRelease | None) -> str:
        if release is None:
            return ""
        try:
            return charts.render(release)
        except ChartError as e:
            return f"# cannot render: {e}\n"

    name = f"{change.namespace}/{change.name}.yaml"
    return unified(render(change.base), render(change.head), name)


Manifests = dict[tuple[str, str, str], str]


@dataclass(frozen=True)
class Diff:
    changes: list[Change]
    objects: list[ObjectChange]
    manifests: Manifests
    errors: list[Finding]


def _header(change: Change) -> str:
    release = change.release
    suspended = " (suspended)" if change.head is not None and change.head.suspended else ""
    return (
        f"{_SIGN[change.kind]} {change.namespace}/{change.name}  {release.chart} "
        f"{release.chart_version}  {change.kind}{suspended}"
    )


def _object_header(change: ObjectChange) -> str:
    line = f"{_SIGN[change.kind]} {change.ref}  {change.api_version}  {change.kind}"
    if change.kind is ChangeKind.REMOVED and change.object_kind == "NodePool":
        # Deleting a NodePool drains its nodes: the helm target reports it, never deletes.
        line += " (hydrate removes its file; the helm target reports it and keeps it)"
    return line


def _body(change: Change, manifests: Manifests) -> str:
    """Values and manifest diffs; a removal is said in its header line alone."""
    if change.kind is ChangeKind.REMOVED:
        return ""
    return change.values_diff() + manifests.get((change.cluster, change.namespace, change.name), "")


def _text(diff: Diff, base: str, head: str) -> str:
    lines = [f"modelsync diff {base[:12]}..{head[:12]}"]
    for finding in diff.errors:
        lines.append(
            f"! invalid at head: {finding.file}:{finding.line}: {finding.message} "
            "(its release is kept as it is)"
        )
    clusters = sorted({c.cluster for c in diff.changes} | {o.cluster for o in diff.objects})
    for cluster in clusters:
        lines.append(f"cluster {cluster}")
        for change in (c for c in diff.changes if c.cluster == cluster):
            lines.append("  " + _header(change))
            lines += ["      " + line for line in _body(change, diff.manifests).splitlines()]
        for obj in (o for o in diff.objects if o.cluster == cluster):
            lines.append("  " + _object_header(obj))
            lines += ["      " + line for line in obj.diff.splitlines()]
    if not clusters:
        lines.append("no release changes")
    return "\n".join(lines) + "\n"


def _markdown(diff: Diff, base: str, head: str) -> str:
    out = [f"### modelsync diff `{base[:12]}..{head[:12]}`", ""]
    if diff.errors:
        out.append(f"**{len(diff.errors)} invalid file(s) at head** (their releases are kept):")
        out += [f"- `{f.file}:{f.line}` {f.message}" for f in diff.errors]
        out.append("")
    if not diff.changes and not diff.objects:
        return "\n".join([*out, "No release changes."]) + "\n"
    out += ["| | cluster | release | chart | change |", "|---|---|---|---|---|"]
    for c in diff.changes:
        out.append(
            f"| {_SIGN[c.kind]} | {c.cluster} | `{c.namespace}/{c.name}` | "
            f"{c.release.chart} {c.release.chart_version} | {c.kind} |"
        )
    for o in diff.objects:
        out.append(f"| {_SIGN[o.kind]} | {o.cluster} | `{o.ref}` | {o.api_version} | {o.kind} |")
    bodies = [
        (f"{c.cluster}: {c.namespace}/{c.name}", _body(c, diff.manifests)) for c in diff.changes
    ]
    bodies += [(f"{o.cluster}: {o.ref}", o.diff) for o in diff.objects]
    for title, body in bodies:
        if not body:
            continue
        out += [
            "",
            f"<details><summary>{title}</summary>",
            "",
            "```diff",
            body.rstrip(),
            "```",
            "</details>",
        ]
    return "\n".join(out) + "\n"


def _data(diff: Diff, base: str, head: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "base": base,
        "head": head,
        "invalid": [{"file": f.file, "line": f.line, "message": f.message} for f in diff.errors],
        "changes": [
            {
                "kind": str(c.kind),
                "cluster": c.cluster,
                "namespace": c.namespace,
                "name": c.name,
                "chart": c.release.chart,
                "chartVersion": c.release.chart_version,
                "valuesDiff": c.values_diff(),
                "manifestDiff": diff.manifests.get((c.cluster, c.namespace, c.name), ""),
            }
            for c in diff.changes
        ],
        "objects": [
            {
                "kind": str(o.kind),
                "cluster": o.cluster,
                "objectKind": o.object_kind,
                "name": o.name,
                "apiVersion": o.api_version,
                "diff": o.diff,
            }
            for o in diff.objects
        ],
    }
    return data
