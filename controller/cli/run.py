"""``modelsync run``: the controller process (what the modelsync chart's Deployment runs).

Polls the clusters repo on a jittered interval, wakes at once on a verified webhook,
reconciles only while it holds the leader Lease, serves /healthz /readyz /metrics /status,
and on SIGTERM finishes the pass in flight, gives up the Lease and exits 0. SIGHUP asks for
a full pass (drift checks included).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from controller.engine.loop import Controller
from controller.engine.metrics import Metrics
from controller.engine.server import App, Server, WebhookSecrets
from controller.engine.settings import Settings, SettingsError, build_syncer, load_settings

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
    parser.add_argument("--interval", type=float, metavar="SECONDS")
    parser.add_argument("--listen", metavar="HOST:PORT")
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
    parser.set_defaults(handler=run)


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {
        "cluster": args.cluster,
        "repo": args.repo,
        "branch": args.branch,
        "path": args.path,
        "target": args.target,
        "out": args.out,
        "interval": args.interval,
        "listen": args.listen,
        "state_dir": args.state_dir,
        "webhook_dir": args.webhook_dir,
        "credentials_dir": args.credentials_dir,
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


def _secret(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        return b""


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = settings_from(args)
        syncer = build_syncer(settings)
    except SettingsError as e:
        print(f"modelsync run: {e}", file=sys.stderr)
        return 2
    controller = Controller(syncer, interval=settings.interval, metrics=Metrics())
    secrets = WebhookSecrets(
        github=_secret(settings.webhook_dir / "secret"),
        token=_secret(settings.webhook_dir / "token"),
    )
    app = App(
        controller,
        secrets,
        followed_ref=followed_ref(settings),
        stale_after=max(600.0, 5 * settings.interval),
    )
    server = Server(app, settings.listen)
    stopping = threading.Event()

    def stop(signum: int, _: FrameType | None) -> None:
        log.info("received %s: finishing the current pass", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, lambda *_: controller.trigger("resync"))
    log.info(
        "modelsync %s: cluster %s from %s (%s target), listening on %s",
        "run",
        settings.cluster,
        settings.repo,
        settings.target,
        settings.listen,
    )
    server.start()
    controller.start()
    stopping.wait()
    controller.stop(timeout=settings.timeout + 30)
    server.stop()
    log.info("stopped")
    return 0
