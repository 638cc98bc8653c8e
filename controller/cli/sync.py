"""``modelsync sync``: one reconcile pass, the way the controller runs it, then exit.

Exit 0 when the pass completed and every action succeeded (nothing to do included), 1 when
some Workspace failed validation or some action failed, 2 when the pass stopped before
planning (fetch, cluster file or target unreadable) or on usage errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.cli.output import add_output_option, emit, selected
from controller.cli.validate import valid_specs
from controller.core.planning import Action, ReleaseState, Step

if TYPE_CHECKING:
    from controller.engine.settings import Settings
    from controller.engine.sync import PassResult


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "sync",
        help="run one reconcile pass (Git -> Helm releases or rendered manifests)",
        description="Run one reconcile pass for one cluster and exit.",
    )
    parser.add_argument(
        "--repo",
        required=True,
        metavar="URL|PATH",
        help="clusters repo: https/ssh/git URL, or a local repository path",
    )
    parser.add_argument("--cluster", required=True, metavar="NAME")
    ref = parser.add_mutually_exclusive_group()
    ref.add_argument("--branch", help="follow this branch (remote default: main)")
    ref.add_argument("--tag", help="follow this tag")
    ref.add_argument("--commit", help="pin this commit")
    parser.add_argument(
        "--path", default="clusters", help="folder of <cluster>/ (default clusters)"
    )
    parser.add_argument(
        "--target",
        choices=("helm", "hydrate"),
        help="helm: install into the cluster; hydrate: render manifests (default: hydrate "
        "with --out or --hydrate-branch, else the cluster file's spec.target.kind)",
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="hydrate: output directory")
    parser.add_argument(
        "--hydrate-branch",
        metavar="BRANCH",
        help="hydrate: also commit the rendered manifests to this branch of the repository "
        "(pushed when --repo is a URL), e.g. environments/dev",
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        metavar="FILE",
        help="helm: kubeconfig (default: in-cluster, else $KUBECONFIG or ~/.kube/config)",
    )
    parser.add_argument("--context", help="helm: kubeconfig context (default: current)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".modelsync/state"),
        help="Git and chart caches (default .modelsync/state)",
    )
    parser.add_argument("--dry-run", action="store_true", help="plan only; change nothing")
    parser.add_argument(
        "--force",
        action="store_true",
        help="allow pruning more than the cluster's maxPruneRatio in one pass",
    )
    parser.add_argument("--no-prune", action="store_true", help="never uninstall releases")
    add_output_option(parser)
    parser.set_defaults(handler=run)


def settings_from(args: argparse.Namespace) -> Settings:
    from controller.engine.settings import Settings, check

    target = args.target or ("hydrate" if args.out or args.hydrate_branch else "")
    settings = Settings(
        cluster=args.cluster,
        repo=args.repo,
        branch=args.branch,
        tag=args.tag,
        commit=args.commit,
        path=args.path,
        target=target,
        out=args.out,
        hydrate_branch=args.hydrate_branch,
        state_dir=args.state_dir,
        force=args.force,
        prune=not args.no_prune,
        kubeconfig=args.kubeconfig,
        kube_context=args.context,
    )
    check(settings)
    return settings


def run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from controller.engine.settings import SettingsError, build_syncer

    try:
        syncer = build_syncer(settings_from(args))
    except SettingsError as e:
        print(f"modelsync sync: {e}", file=sys.stderr)
        return 2
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task("applying", total=None)

        def progress(index: int, total: int, step: Step) -> None:
            bar.update(
                task,
                total=total,
                completed=index,
                description=f"{step.action} {step.namespace}/{step.name}",
            )

        result = syncer.run_pass(dry_run=args.dry_run, progress=progress)
    emit(
        pass_data(result, dry_run=args.dry_run),
        selected(args),
        lambda: print_pass(result, dry_run=args.dry_run),
    )
    if result.error:
        return 2
    failed = not result.ok or (
        # Other kinds beside the Workspaces (a ConfigMap) are ignored, not failures.
        result.report is not None
        and any(f.is_error for w in result.report.workspaces for f in w.findings)
    )
    return 1 if failed else 0


def print_pass(result: PassResult, *, dry_run: bool = False) -> None:
    write = print
    commit = result.commit[:12] or "-"
    if result.error:
        write(f"modelsync: {result.error}")
        return
    if result.skipped:
        write(f"{result.cluster} at {commit}: nothing to do ({result.skipped})")
        return
    report = result.report
    assert report is not None
    assert result.plan is not None
    for w in report.workspaces:
        for finding in (f for f in w.findings if f.is_error):
            write(f"invalid  {finding.file}:{finding.line}: {finding.field}: {finding.message}")
    for step in (s for s in result.plan.steps if s.state is ReleaseState.HELD):
        write(f"kept     {step.namespace}/{step.name}  ({step.reason})")
    actions = result.plan.actions()
    if result.plan.refused_prune:
        write(f"refused  {result.plan.refused_prune}")
    if dry_run:
        for step in actions:
            write(f"would {step.action:<9} {step.namespace}/{step.name}  ({step.reason})")
    for r in result.results:
        verb = "ok" if r.ok else "FAILED"
        write(f"{r.step.action:<9} {r.step.namespace}/{r.step.name}  {verb}: {r.message}")
    for step in result.waiting:
        write(f"waiting  {step.namespace}/{step.name}  (backing off after a failure)")
    write(_summary(result, len(actions), dry_run=dry_run))


def _summary(result: PassResult, actions: int, *, dry_run: bool) -> str:
    assert result.plan is not None
    assert result.report is not None
    idle = [s for s in result.plan.steps if s.action is Action.NONE]
    kept = sum(1 for s in idle if s.state is ReleaseState.HELD)
    in_sync = len(idle) - kept
    valid = valid_specs(result.report.workspaces)
    where = f"{result.cluster} at {result.commit[:12] or '-'}"
    if not actions:
        return (
            f"{where}: nothing to do, {in_sync} releases in sync"
            + (f", {kept} kept for invalid files" if kept else "")
            + f" ({valid}, {result.seconds:.2f}s)"
        )
    if dry_run:
        done = f"{actions} planned"
    else:
        failed = sum(1 for r in result.results if not r.ok)
        done = f"{result.changed} applied"
        done += f", {failed} failed" if failed else ""
        done += f", {len(result.waiting)} waiting" if result.waiting else ""
    return f"{where}: {done}, {in_sync} unchanged ({valid}, {result.seconds:.2f}s)"


def pass_data(result: PassResult, *, dry_run: bool = False) -> dict[str, Any]:
    """The pass as ``-o json|yaml`` prints it: what the text lines say, as fields."""
    plan, report = result.plan, result.report

    def step(s: Step) -> dict[str, str]:
        return {
            "action": str(s.action),
            "namespace": s.namespace,
            "name": s.name,
            "reason": s.reason,
        }

    return {
        "cluster": result.cluster,
        "commit": result.commit,
        "dryRun": dry_run,
        "seconds": round(result.seconds, 3),
        "error": result.error,
        "skipped": result.skipped,
        "invalid": [
            {"file": f.file, "line": f.line, "field": f.field, "message": f.message}
            for w in (report.workspaces if report else ())
            for f in w.findings
            if f.is_error
        ],
        "validWorkspaces": sum(1 for w in report.workspaces if w.valid) if report else 0,
        "kept": [step(s) for s in plan.steps if s.state is ReleaseState.HELD] if plan else [],
        "refusedPrune": plan.refused_prune if plan else "",
        "planned": [step(s) for s in plan.actions()] if plan else [],
        "results": [step(r.step) | {"ok": r.ok, "message": r.message} for r in result.results],
        "waiting": [step(s) for s in result.waiting],
    }
