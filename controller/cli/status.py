"""``modelsync status``: one row per Workspace, like ``flux get helmreleases``.

Reads the hydrate ledger(s) under ``--out``, or asks a running controller's ``/status``.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from controller.cli.presets import console
from controller.core.ports import TargetError

COLUMNS = ("NAMESPACE", "NAME", "CLUSTER", "REVISION", "SUSPENDED", "READY", "MESSAGE")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("status", help="show each Workspace's release and readiness")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, metavar="DIR", help="a hydrate output directory")
    where.add_argument("--url", help="a running controller, e.g. http://localhost:8080")
    parser.add_argument("--cluster", help="only this cluster")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        rows = list(_from_ledgers(args.out) if args.out else _from_url(args.url))
    except (TargetError, OSError, ValueError) as e:
        print(f"modelsync status: {e}", file=sys.stderr)
        return 2
    rows = [r for r in rows if args.cluster in (None, r.get("cluster"))]
    if args.format == "json":
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_table(rows)
    return 0 if all(r.get("ready") == "True" or r.get("suspended") for r in rows) else 1


def _from_ledgers(out: Path) -> Iterable[Mapping[str, Any]]:
    from controller.adapters.hydrate import LEDGER, read_ledger

    paths = sorted(out.glob(f"*/{LEDGER}"))
    if not paths:
        raise TargetError(f"no modelsync ledger under {out} (run modelsync sync --out {out})")
    for path in paths:
        ledger = read_ledger(path)
        assert ledger is not None
        yield from ledger.get("workspaces", [])


def _from_url(url: str) -> Iterable[Mapping[str, Any]]:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    with urllib.request.urlopen(f"{url.rstrip('/')}/status", timeout=10) as response:  # noqa: S310
        body = json.load(response)
    yield from body.get("workspaces", [])


def print_table(rows: Iterable[Mapping[str, Any]]) -> None:
    from rich.table import Table

    table = Table(*COLUMNS, box=None, pad_edge=False)
    for row in sorted(
        rows, key=lambda r: (r.get("cluster", ""), r.get("namespace", ""), r.get("name", ""))
    ):
        revision = row.get("revision")
        table.add_row(
            row.get("namespace", ""),
            row.get("name", ""),
            row.get("cluster", ""),
            str(revision) if revision else "-",
            str(bool(row.get("suspended"))),
            row.get("ready", "Unknown"),
            _message(row),
        )
    console().print(table)


def _message(row: Mapping[str, Any]) -> str:
    reason, message = row.get("reason", ""), row.get("message", "")
    commit = str(row.get("commit", ""))[:12]
    text = f"{reason}: {message}" if message else reason
    return f"{text} @ {commit}" if commit and row.get("ready") == "True" else text
