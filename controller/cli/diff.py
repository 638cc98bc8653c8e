"""``modelsync diff``: what merging a change would do to each cluster's releases.

Like ``flux diff`` / ``argocd app diff``: exit 0 when no release changes, 1 when some do,
2 on errors. ``--format markdown`` writes a pull-request comment.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.adapters.bundled import load_bundle
from controller.cli.policyflag import PolicyFileError, add_policy_flag, policy_of
from controller.core.changes import Change, ChangeKind, compare, unified
from controller.core.chartpolicy import ChartPolicy
from controller.core.claims import NO_CLAIMS, Claims, source_id
from controller.core.findings import Finding, did_you_mean
from controller.core.localpresets import presets_dir_for, with_local_presets
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
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    parser.add_argument("--no-manifests", action="store_true", help="values only, no rendering")
    add_policy_flag(parser)
    parser.set_defaults(handler=run)


def releases_at(
    repo: LocalRepository,
    commit: str,
    path: str,
    cluster: str | None,
    policy: ChartPolicy | None = None,
) -> tuple[list[DesiredRelease], list[Finding], dict[str, Claims]]:
    """The releases of ``cluster`` (all when None) at ``commit``, the errors there, and for
    every cluster the commit holds, what its broken files may still define (the controller
    keeps those releases: claims.py)."""
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
    return releases, errors, claims


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
    before, _, known = releases_at(repo, base, args.path, args.cluster, policy)
    after, errors, claims = releases_at(repo, head, args.path, args.cluster, policy)
    names = {*known, *claims}
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
    writer = {"text": _text, "markdown": _markdown, "json": _json}[args.format]
    sys.stdout.write(writer(changes, manifests, errors, base, head))
    return 1 if changes else 0


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


def _header(change: Change) -> str:
    release = change.release
    suspended = " (suspended)" if change.head is not None and change.head.suspended else ""
    return (
        f"{_SIGN[change.kind]} {change.namespace}/{change.name}  {release.chart} "
        f"{release.chart_version}  {change.kind}{suspended}"
    )


def _body(change: Change, manifests: Manifests) -> str:
    """Values and manifest diffs; a removal is said in its header line alone."""
    if change.kind is ChangeKind.REMOVED:
        return ""
    return change.values_diff() + manifests.get((change.cluster, change.namespace, change.name), "")


def _text(
    changes: list[Change], manifests: Manifests, errors: list[Finding], base: str, head: str
) -> str:
    lines = [f"modelsync diff {base[:12]}..{head[:12]}"]
    for finding in errors:
        lines.append(
            f"! invalid at head: {finding.file}:{finding.line}: {finding.message} "
            "(its release is kept as it is)"
        )
    cluster = None
    for change in changes:
        if change.cluster != cluster:
            cluster = change.cluster
            lines.append(f"cluster {cluster}")
        lines.append("  " + _header(change))
        lines += ["      " + line for line in _body(change, manifests).splitlines()]
    if not changes:
        lines.append("no release changes")
    return "\n".join(lines) + "\n"


def _markdown(
    changes: list[Change], manifests: Manifests, errors: list[Finding], base: str, head: str
) -> str:
    out = [f"### modelsync diff `{base[:12]}..{head[:12]}`", ""]
    if errors:
        out.append(f"**{len(errors)} invalid file(s) at head** (their releases are kept):")
        out += [f"- `{f.file}:{f.line}` {f.message}" for f in errors]
        out.append("")
    if not changes:
        return "\n".join([*out, "No release changes."]) + "\n"
    out += ["| | cluster | release | chart | change |", "|---|---|---|---|---|"]
    for c in changes:
        out.append(
            f"| {_SIGN[c.kind]} | {c.cluster} | `{c.namespace}/{c.name}` | "
            f"{c.release.chart} {c.release.chart_version} | {c.kind} |"
        )
    for c in changes:
        body = _body(c, manifests)
        if not body:
            continue
        out += [
            "",
            f"<details><summary>{c.cluster}: {c.namespace}/{c.name}</summary>",
            "",
            "```diff",
            body.rstrip(),
            "```",
            "</details>",
        ]
    return "\n".join(out) + "\n"


def _json(
    changes: list[Change], manifests: Manifests, errors: list[Finding], base: str, head: str
) -> str:
    data: dict[str, Any] = {
        "base": base,
        "head": head,
        "invalid": [{"file": f.file, "line": f.line, "message": f.message} for f in errors],
        "changes": [
            {
                "kind": str(c.kind),
                "cluster": c.cluster,
                "namespace": c.namespace,
                "name": c.name,
                "chart": c.release.chart,
                "chartVersion": c.release.chart_version,
                "valuesDiff": c.values_diff(),
                "manifestDiff": manifests.get((c.cluster, c.namespace, c.name), ""),
            }
            for c in changes
        ],
    }
    return json.dumps(data, indent=2) + "\n"
