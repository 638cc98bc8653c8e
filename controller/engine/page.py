"""The status page at ``/``: ``/status`` rendered as HTML for a person, read-only.

It is built from ``Controller.snapshot()``, the same redacted data ``/status`` serves, so
the one redaction rule covers the page too, and Jinja2 escapes every value on top. The page
has no JavaScript and loads nothing: its one style sheet is inlined and allowed by its hash
in a Content-Security-Policy that refuses everything else (scripts, images, frames, forms).
Colours only repeat what the text says (Ready, "3 of 8"), for readers who cannot see them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

__all__ = ["HEADERS", "render"]

_ENV = Environment(
    loader=PackageLoader("controller.engine", "templates"),
    autoescape=True,  # every template, whatever its name: data from Git is never markup
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_TEMPLATE = _ENV.get_template("status.html")
_CSS = (_ENV.loader.get_source(_ENV, "status.css")[0]) if _ENV.loader else ""
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()

#: Response headers of the page: nothing but the inline style sheet may load or run.
HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

# Ready's text, a mark beside it (hidden from screen readers, which read the text) and the
# class that colours it.
_READY = {
    "True": ("Ready", "✓", "ok"),
    "False": ("Not ready", "✗", "bad"),
}
_UNKNOWN = ("Unknown", "?", "unknown")
#: Bars turn amber above this share of a pool and red above the next.
_AMBER, _RED = 0.75, 0.9


def render(snapshot: Mapping[str, Any]) -> str:
    """The page's HTML for one ``Controller.snapshot()``."""
    rows = [_row(w) for w in snapshot.get("workspaces", [])]
    last = snapshot.get("lastPass")
    return _TEMPLATE.render(
        css=Markup(_CSS),  # noqa: S704 - the package's own style sheet, hashed in the CSP
        cluster=snapshot.get("cluster", ""),
        commit=str(snapshot.get("commit") or "")[:12] or "none yet",
        role="leader" if snapshot.get("leader") else "standby",
        last_pass=_last_pass(last),
        last_error=bool(last and last.get("error")),
        rows=rows,
        ready_count=sum(1 for r in rows if r["state"] == "ok"),
        pools=[_pool(p) for p in snapshot.get("pools", [])],
    )


def _row(workspace: Mapping[str, Any]) -> dict[str, Any]:
    ready, mark, state = _READY.get(str(workspace.get("ready")), _UNKNOWN)
    reason = str(workspace.get("reason") or "")
    if workspace.get("suspended"):
        reason = f"{reason} (suspended)" if reason != "Suspended" else reason
    if workspace.get("stalled") and state == "bad":
        reason = f"{reason}, stalled"
    return {
        "cluster": workspace.get("cluster", ""),
        "namespace": workspace.get("namespace", ""),
        "name": workspace.get("name", ""),
        "model": workspace.get("model", ""),
        "pool": workspace.get("pool", ""),
        "gpus": workspace.get("gpus"),
        "ready": ready,
        "mark": mark,
        "state": state,
        "reason": reason,
        "revision": workspace.get("revision"),
        # Ready's message is the last error while it is not Ready (and not merely suspended).
        "error": ""
        if state == "ok" or workspace.get("suspended")
        else str(workspace.get("message") or ""),
    }


def _pool(pool: Mapping[str, Any]) -> dict[str, Any]:
    used, total = int(pool.get("usedGpus", 0)), int(pool.get("totalGpus", 0))
    return {
        "name": pool.get("name", ""),
        "gpu": pool.get("gpu", ""),
        "used": used,
        "total": total,
        "percent": used * 100 // total if total else 0,
        "over": used > total,
        "low": round(total * _AMBER, 2),
        "high": round(total * _RED, 2),
    }


def _last_pass(last: Mapping[str, Any] | None) -> str:
    if not last:
        return "not run yet"
    if last.get("error"):
        return f"failed: {last['error']}"
    if last.get("skipped"):
        return f"nothing to do ({last['skipped']})"
    text = f"{last.get('applied', 0)} applied, {last.get('failed', 0)} failed"
    if last.get("refusedPrune"):
        text += f"; prune refused: {last['refusedPrune']}"
    return text
