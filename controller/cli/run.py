"""``modelsync run``: the controller process (what the modelsync chart's Deployment runs).

Polls the clusters repo on a jittered interval, wakes at once on a verified webhook,
reconciles only while it holds the leader Lease, serves /healthz /readyz /metrics /status
(and the webhooks, unless ``webhookListen`` gives them a listener of their own), and on
SIGTERM finishes the pass in flight, gives up the Lease and exits 0. SIGHUP asks for a
full pass (drift checks included).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controller.adapters.leader import LeaderElector
    from controller.core.notifications import NotifySecrets
    from controller.engine.controlwatch import RequestWatch
    from controller.engine.logs import RedactingFormatter
    from controller.engine.loop import Controller
    from controller.engine.settings import Settings

log = logging.getLogger("modelsync")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("run", help="run the controller (poll, webhooks, leader election)")
    parser.add_argument("--config", type=Path, help="config file (docs/contracts.md section 6)")
    parser.add_argument("--cluster")
    parser.add_argument("--repo", metavar="URL|PATH")
    parser.add_argument("--branch")
    parser.add_argument("--path")
    parser.add_argument("--target", choices=("helm", "hydrate"))
    parser.add_argument("--out", type=Path, help="hydrate: output directory")
    parser.add_argument(
        "--hydrate-branch",
        metavar="BRANCH",
        help="hydrate: commit the rendered manifests to this branch and push it",
    )
    parser.add_argument("--kubeconfig", type=Path, help="default: in-cluster, else $KUBECONFIG")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--interval", type=float, metavar="SECONDS")
    parser.add_argument("--listen", metavar="HOST:PORT", help="probes, /metrics, /status")
    parser.add_argument(
        "--webhook-listen",
        metavar="HOST:PORT",
        help="serve the webhooks alone here (default: on --listen with the rest)",
    )
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument(
        "--webhook-dir",
        type=Path,
        help="folder with the webhook secret/token files (/etc/modelsync/webhook)",
    )
    parser.add_argument(
        "--credentials-dir", type=Path, help="folder with Git credential files (/etc/modelsync/git)"
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="text (default) or JSON lines; config key logFormat",
    )
    parser.add_argument(
        "--notifications-dir",
        type=Path,
        help="folder with the notification secret files (/etc/modelsync/notifications)",
    )
    parser.set_defaults(handler=run)


def settings_from(args: argparse.Namespace) -> Settings:
    from controller.engine.settings import Settings, load_settings

    overrides = {
        "cluster": args.cluster,
        "repo": args.repo,
        "branch": args.branch,
        "path": args.path,
        "target": args.target,
        "out": args.out,
        "interval": args.interval,
        "listen": args.listen,
        "webhook_listen": args.webhook_listen,
        "state_dir": args.state_dir,
        "webhook_dir": args.webhook_dir,
        "credentials_dir": args.credentials_dir,
        "kubeconfig": args.kubeconfig,
        "hydrate_branch": args.hydrate_branch,
        "kube_context": args.context,
        "log_format": args.log_format,
        "notifications_dir": args.notifications_dir,
    }
    if args.config is not None:
        return load_settings(args.config, **overrides)
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def followed_ref(settings: Settings) -> str | None:
    if settings.commit:
        return None
    if settings.tag:
        return f"refs/tags/{settings.tag}"
    return f"refs/heads/{settings.branch or 'main'}"


def _cluster_services(
    settings: Settings, target: object, controller: Controller
) -> tuple[LeaderElector | None, RequestWatch | None]:
    """With the helm target: Events on the releases' workloads, the leader Lease, and the
    poll that wakes the loop on requests made through the API (``modelsync reconcile``...).

    The controller's own Pod (POD_NAME/POD_NAMESPACE from the downward API) is what Events
    about no particular release (a Workspace that failed validation) are recorded against.
    """
    from controller.adapters.helmtarget import HelmTarget
    from controller.adapters.kube import ObjectRef
    from controller.adapters.kubeevents import EventRecorder
    from controller.engine.controlwatch import RequestWatch
    from controller.engine.settings import build_leader

    if not isinstance(target, HelmTarget):
        return None, None
    client = target.connection.client()
    identity = os.environ.get("POD_NAME") or socket.gethostname()
    namespace = os.environ.get("POD_NAMESPACE", "default")
    controller.events = EventRecorder(
        client,
        fallback=ObjectRef("v1", "Pod", identity, namespace),
        instance=identity,
        regarding=target.regarding,
    )
    leader = build_leader(
        settings,
        client,
        on_change=lambda leading: controller.trigger("became leader") if leading else None,
    )
    if leader is not None:
        controller.leadership = leader
    publisher = controller.syncer.publisher
    if publisher is None:
        return leader, None
    watch = RequestWatch(
        publisher.store.read_metadata,
        lambda: publisher.namespaces,
        lambda reason: controller.trigger(reason, full=True),
        leading=lambda: controller.leadership.is_leader,
        every=settings.request_poll,
    )
    return leader, watch


def _secret(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        return b""


def _configured(
    args: argparse.Namespace,
) -> tuple[Settings, RedactingFormatter, NotifySecrets]:
    """The settings, logging set up in the format they ask for, and the notification
    secrets, known to the log formatter before anything could print them."""
    from controller.engine import logs
    from controller.engine.notifications import read_secrets

    formatter = logs.configure(args.log_level, sys.stderr, args.log_format or "text")
    settings = settings_from(args)
    if settings.log_format != (args.log_format or "text"):
        formatter = logs.configure(args.log_level, sys.stderr, settings.log_format)
    notify_secrets = read_secrets(settings.notifications_dir)
    formatter.add_secrets(vars(notify_secrets).values())
    return settings, formatter, notify_secrets


def run(args: argparse.Namespace) -> int:
    from controller import __version__
    from controller.adapters.gitsource import GitSource
    from controller.core.redaction import redact
    from controller.engine.loop import Controller
    from controller.engine.metrics import Metrics
    from controller.engine.notifications import build_notifier
    from controller.engine.server import WebhookSecrets, build_servers
    from controller.engine.settings import SettingsError, build_syncer

    try:
        settings, formatter, notify_secrets = _configured(args)
        syncer = build_syncer(settings)
        notifier = build_notifier(settings, notify_secrets)
    except SettingsError as e:
        print(redact(f"modelsync run: {e}"), file=sys.stderr)
        return 2
    secrets = WebhookSecrets(
        github=_secret(settings.webhook_dir / "secret"),
        token=_secret(settings.webhook_dir / "token"),
    )
    hidden = (
        *(syncer.source.secrets if isinstance(syncer.source, GitSource) else ()),
        secrets.github.decode(errors="replace"),
        secrets.token.decode(errors="replace"),
        *vars(notify_secrets).values(),
    )
    formatter.add_secrets(hidden)
    if notifier is not None:
        notifier.secrets = tuple(s for s in hidden if s)
    controller = Controller(
        syncer, interval=settings.interval, metrics=Metrics(), secrets=hidden, notifier=notifier
    )
    if syncer.publisher is not None:
        syncer.publisher.secrets = hidden
    leader, watch = _cluster_services(settings, syncer.target, controller)
    servers = build_servers(
        controller,
        secrets,
        listen=settings.listen,
        webhook_listen=settings.webhook_listen,
        followed_ref=followed_ref(settings),
        stale_after=max(600.0, 5 * settings.interval),
    )
    stopping = threading.Event()

    def stop(signum: int, _: FrameType | None) -> None:
        log.info("received %s: finishing the current pass", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, lambda *_: controller.trigger("resync"))
    log.info(
        "modelsync %s run: cluster %s from %s (%s target), listening on %s%s",
        __version__,
        settings.cluster,
        settings.repo,
        settings.target,
        settings.listen,
        f", webhooks on {settings.webhook_listen}" if settings.webhook_listen else "",
        extra={"cluster": settings.cluster, "version": __version__},
    )
    for server in servers:
        server.start()
    if leader is not None:
        leader.start()
    controller.start()
    if watch is not None:
        watch.start()
    stopping.wait()
    if watch is not None:
        watch.stop()
    controller.stop(timeout=settings.timeout + 30)
    if leader is not None:
        leader.stop(release=True)  # the standby takes over at once
    for server in servers:
        server.stop()
    log.info("stopped")
    return 0
