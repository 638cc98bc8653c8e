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

from controller.cli.output import add_output_option, emit, print_table, selected
from controller.core.findings import did_you_mean
from controller.core.ports import TargetError

COLUMNS = ("NAMESPACE", "NAME", "CLUSTER", "REVISION", "SUSPENDED", "READY", "MESSAGE")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("status", help="show each Workspace's release and readiness")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, metavar="DIR", help="a hydrate output directory")
    where.add_argument("--url", help="a running controller, e.g. http://localhost:8080")
    parser.add_argument("--cluster", help="only this cluster")
    formats = parser.add_mutually_exclusive_group()
    add_output_option(formats)
    formats.add_argument("--format", choices=("table", "json"), help="the older name of -o")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        clusters, rows = _from_ledgers(args.out) if args.out else _from_url(args.url)
    except (TargetError, OSError, ValueError) as e:
        print(f"modelsync status: {e}", file=sys.stderr)
        return 2
    if args.cluster is not None:
        names = {str(r.get("cluster", "")) for r in rows} | clusters
        if args.cluster not in names:
            # An empty table would pass CI on a misspelled cluster.
            hint = did_you_mean(args.cluster, names)
            print(f"modelsync status: no cluster {args.cluster!r}{hint}", file=sys.stderr)
            return 2
        rows = [r for r in rows if r.get("cluster") == args.cluster]
    emit(rows, selected(args), lambda: table(rows))
    return 0 if all(r.get("ready") == "True" or r.get("suspended") for r in rows) else 1


Rows = list[Mapping[str, Any]]


def _from_ledgers(out: Path) -> tuple[set[str], Rows]:
    """The clusters synced into ``out`` (one folder each) and their Workspaces."""
    from controller.adapters.hydrate import LEDGER, read_ledger

    paths = sorted(out.glob(f"*/{LEDGER}"))
    if not paths:
        raise TargetError(f"no modelsync ledger under {out} (run modelsync sync --out {out})")
    rows: Rows = []
    for path in paths:
        ledger = read_ledger(path)
        assert ledger is not None
        rows += ledger.get("workspaces", [])
    return {p.parent.name for p in paths}, rows


def _from_url(url: str) -> tuple[set[str], Rows]:
    """The running controller's cluster and its Workspaces."""
    body = controller_status(url)
    return {str(body.get("cluster", ""))}, list(body.get("workspaces", []))


def controller_status(url: str) -> dict[str, Any]:
    """A running controller's ``/status`` document."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    with urllib.request.urlopen(f"{url.rstrip('/')}/status", timeout=10) as response:  # noqa: S310
        body: dict[str, Any] = json.load(response)
    return body


def table(rows: Iterable[Mapping[str, Any]]) -> None:
    ordered = sorted(
        rows, key=lambda r: (r.get("cluster", ""), r.get("namespace", ""), r.get("name", ""))
    )
    print_table(
        COLUMNS,
        (
            (
                row.get("namespace", ""),
                row.get("name", ""),
                row.get("cluster", ""),
                str(row["revision"]) if row.get("revision") else "-",
                str(bool(row.get("suspended"))),
                row.get("ready", "Unknown"),
                _message(row),
            )
            for row in ordered
        ),
    )


def _message(row: Mapping[str, Any]) -> str:
    reason, message = row.get("reason", ""), row.get("message", "")
    commit = str(row.get("commit", ""))[:12]
    text = f"{reason}: {message}" if message else reason
    return f"{text} @ {commit}" if commit and row.get("ready") == "True" else text
