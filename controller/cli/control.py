"""``modelsync reconcile|suspend|resume|reset|history``: control through the API, like Flux.

Each command acts on a Workspace's ModelWorkspace object with nothing but a kubeconfig
(``--kubeconfig``, ``--context``, ``-n``): it sets the request annotations of
core/control.py (a JSON merge patch) and, unless ``--timeout 0``, waits until the
controller's status says the request was handled (``lastHandledReconcileAt``, as ``flux
reconcile`` waits on Flux's). ``suspend`` records who asked (the API server's own answer
to "who am I", else the kubeconfig's user) and ``--reason``. ``history`` reads the Helm
release history of the Workspace's release. Exit codes: 0 done, 1 the controller did not
answer in time, 2 usage, a missing object or an API error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.cli.output import add_output_option, emit, print_table, selected

if TYPE_CHECKING:
    from controller.adapters.kube import KubeClient, KubeConnection

WAIT_EVERY = 0.5


class ControlError(Exception):
    """The command cannot go on (no such object, the API refused); exit 2."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    specs: list[tuple[str, str, Callable[[argparse.Namespace], int]]] = [
        ("reconcile", "ask the controller to reconcile a Workspace now", reconcile),
        ("suspend", "stop reconciling a Workspace (recorded with who and why)", suspend),
        ("resume", "reconcile a suspended Workspace again", resume),
        ("reset", "clear a Workspace's Stalled state and retry count", reset),
        ("history", "show the Helm release history of a Workspace", history),
    ]
    for name, text, handler in specs:
        parser = commands.add_parser(name, help=text, description=text)
        parser.add_argument("workspace", metavar="WORKSPACE", help="the Workspace's name")
        parser.add_argument("-n", "--namespace", help="default: the context's, else default")
        parser.add_argument("--kubeconfig", type=Path, help="default: $KUBECONFIG, ~/.kube/config")
        parser.add_argument("--context", help="kubeconfig context")
        if name == "history":
            add_output_option(parser)
        else:
            parser.add_argument(
                "--timeout",
                type=float,
                default=60.0,
                metavar="SECONDS",
                help="wait this long for the controller to act on it (0: do not wait)",
            )
        if name == "suspend":
            parser.add_argument("--reason", default="", help="why (shown in status)")
        parser.set_defaults(handler=_guarded(handler))


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from controller.adapters.kube import KubeError

        try:
            return handler(args)
        except (ControlError, KubeError) as e:
            print(f"modelsync {args.command}: {e}", file=sys.stderr)
            return 2

    return run


class _Target:
    """One ModelWorkspace object, through one connection."""

    def __init__(self, args: argparse.Namespace) -> None:
        from controller.adapters.kube import KubeConnection
        from controller.adapters.workspaceobjects import path
        from controller.core.releases import release_name

        self.args = args
        self.connection: KubeConnection = KubeConnection(args.kubeconfig, args.context)
        self.client: KubeClient = self.connection.client()
        self.namespace = args.namespace or _context(args).get("namespace") or "default"
        self.name = release_name(args.workspace)
        self.path = path(self.namespace, self.name)

    def get(self) -> dict[str, Any]:
        from controller.adapters.kube import KubeNotFoundError

        try:
            return self.client.get(self.path)
        except KubeNotFoundError as e:
            raise ControlError(
                f"no ModelWorkspace {self.namespace}/{self.name}: is the Workspace in Git, "
                "and does the controller run with the helm target?"
            ) from e

    def patch(self, body: dict[str, Any]) -> None:
        self.get()  # a clear message when it is missing (a merge patch would say 404)
        self.client.patch(self.path, body)

    def wait(self, handled: Callable[[Mapping[str, Any]], bool], what: str) -> int:
        """0 once ``handled(status)`` holds, 1 after ``--timeout`` seconds."""
        deadline = time.monotonic() + self.args.timeout
        while self.args.timeout > 0:
            status = self.get().get("status") or {}
            if handled(status):
                print(f"{what}: {_summary(status)}")
                return 0
            if time.monotonic() >= deadline:
                print(
                    f"modelsync {self.args.command}: the controller did not act on "
                    f"{self.namespace}/{self.name} within {self.args.timeout:g}s "
                    "(is it running, and does it manage this namespace?)",
                    file=sys.stderr,
                )
                return 1
            time.sleep(WAIT_EVERY)
        print(f"{what}: requested")
        return 0

    def close(self) -> None:
        self.connection.close()


def _request(
    args: argparse.Namespace,
    patch: Callable[[str], dict[str, Any]],
    handled: Callable[[Mapping[str, Any], str], bool],
    verb: str,
) -> int:
    """Annotate the object with a request stamped now, and wait until its status says the
    controller handled that stamp."""
    target, stamp = _Target(args), _now()
    try:
        target.patch(patch(stamp))
        return target.wait(lambda s: handled(s, stamp), f"{verb} {target.namespace}/{target.name}")
    finally:
        target.close()


def reconcile(args: argparse.Namespace) -> int:
    from controller.core.control import reconcile_patch

    return _request(
        args, reconcile_patch, lambda s, at: s.get("lastHandledReconcileAt") == at, "reconciled"
    )


def suspend(args: argparse.Namespace) -> int:
    from controller.core.control import suspend_patch

    target = _Target(args)
    try:
        who = _whoami(target.client, args)
        target.patch(suspend_patch(_now(), by=who, reason=args.reason))
        return target.wait(
            lambda s: (s.get("suspended") or {}).get("by") == who,
            f"suspended {target.namespace}/{target.name}",
        )
    finally:
        target.close()


def resume(args: argparse.Namespace) -> int:
    from controller.core.control import resume_patch

    return _request(
        args,
        resume_patch,
        lambda s, at: s.get("lastHandledReconcileAt") == at and not s.get("suspended"),
        "resumed",
    )


def reset(args: argparse.Namespace) -> int:
    from controller.core.control import reset_patch

    return _request(args, reset_patch, lambda s, at: s.get("lastHandledResetAt") == at, "reset")


def history(args: argparse.Namespace) -> int:
    import helm_python as helm

    target = _Target(args)
    try:
        release = str((target.get().get("status") or {}).get("release") or target.name)
    finally:
        target.close()
    config = helm.Config(
        kubeconfig_path=args.kubeconfig, kube_context=args.context, namespace=target.namespace
    )
    try:
        revisions = config.history(release)
    except helm.HelmError as e:
        raise ControlError(f"cannot read the history of {target.namespace}/{release}: {e}") from e
    finally:
        config.close()
    rows = [_revision(r) for r in sorted(revisions, key=lambda r: int(r.get("revision") or 0))]
    emit(rows, selected(args), lambda: _table(rows))
    return 0


def _revision(item: Mapping[str, Any]) -> dict[str, Any]:
    from controller.adapters.helmtarget import LABEL_COMMIT

    labels = item.get("labels") or {}
    return {
        "revision": int(item.get("revision") or 0),
        "updated": str(item.get("deployed_at") or ""),
        "status": str(item.get("status") or ""),
        "chart": f"{item.get('chart_name', '')}-{item.get('chart_version', '')}",
        "appVersion": str(item.get("app_version") or ""),
        "commit": str(labels.get(LABEL_COMMIT, "")),
    }


def _table(rows: list[dict[str, Any]]) -> None:
    print_table(
        ("REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "COMMIT"),
        (
            (
                str(row["revision"]),
                row["updated"],
                row["status"],
                row["chart"],
                row["appVersion"],
                row["commit"][:12] or "-",
            )
            for row in rows
        ),
    )


def _summary(status: Mapping[str, Any]) -> str:
    ready = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {"status": "?"}
    )
    text = f"Ready={ready.get('status')}"
    if ready.get("reason"):
        text += f" ({ready['reason']}"
        text += f": {ready['message']})" if ready.get("message") else ")"
    return text + (f", revision {status['revision']}" if status.get("revision") else "")


def _now() -> str:
    from controller.adapters.kube import micro_time

    return micro_time(time.time())


def _context(args: argparse.Namespace) -> dict[str, Any]:
    """The kubeconfig context in use (its namespace and user), {} when none is named."""
    import kubernetes

    # Unannotated in kubernetes.config; (contexts, the current one) as used here.
    listing: Callable[..., Any] = kubernetes.config.list_kube_config_contexts
    try:
        contexts, active = listing(
            config_file=None if args.kubeconfig is None else str(args.kubeconfig)
        )
    except Exception:
        return {}
    chosen = next((c for c in contexts if c.get("name") == args.context), active)
    context = (chosen or {}).get("context") or {}
    return dict(context) if isinstance(context, Mapping) else {}


def _whoami(client: KubeClient, args: argparse.Namespace) -> str:
    """Who the API server says we are (SelfSubjectReview), else the kubeconfig's user."""
    from controller.adapters.kube import KubeError

    try:
        review = client.create(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    except KubeError:
        review = {}
    user = ((review.get("status") or {}).get("userInfo") or {}).get("username")
    return str(user or _context(args).get("user") or "unknown")
