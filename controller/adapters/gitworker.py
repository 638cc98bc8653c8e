"""One libgit2 network operation (fetch or push) in a child process the deadline can kill.

Adapter layer, under ``gitsource``. libgit2's socket timeout bounds each read, not the
operation: a remote that trickles one byte a second keeps a fetch alive for ever, and the
deadline checked in the progress callbacks is never reached before the pack starts. A
thread blocked in libgit2 cannot be stopped, so the operation runs in a child Python
process (``python -m controller.adapters.gitworker``) that is killed, with its process
group, when the deadline passes. The request, credentials included, goes over the child's
stdin (never its argv or environment); the outcome comes back as one JSON object on stdout.

libgit2's timeouts and home directory are process-wide settings; in the child they belong
to this one operation, so parent-side fetches of several sources need no shared lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import pygit2
from pygit2.enums import FetchPrune

from controller.adapters.gitauth import AuthRejectedError, GitAuth, GitCallbacks

__all__ = ["Outcome", "Request", "run"]

_STDERR_TAIL = 2000


@dataclass(frozen=True)
class Request:
    """What the child does: fetch ``refspecs`` into, or push them from, the bare ``repo``."""

    op: Literal["fetch", "push"]
    repo: str
    refspecs: list[str]
    timeout: float
    depth: int = 0
    home: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How the operation ended; ``kind`` is ``ok``, ``auth``, ``timeout`` or ``libgit2``.

    ``error_class`` names the pygit2 exception class (``AuthError``, ``CertificateError``,
    ...) so the parent can tell permanent failures from retryable ones.
    """

    kind: str
    message: str = ""
    error_class: str = ""
    rejected_host: str | None = None
    refused: str = ""


def run(request: Request, auth: GitAuth) -> Outcome:
    """Run ``request`` in a child process; past the deadline, kill it and report a timeout."""
    payload = json.dumps({"request": asdict(request), "auth": _auth_fields(auth)})
    child = subprocess.Popen(
        # -P: the working directory (a clusters checkout, say) must not shadow a module.
        [sys.executable, "-P", "-m", "controller.adapters.gitworker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = child.communicate(payload.encode(), timeout=request.timeout)
    except subprocess.TimeoutExpired:
        _kill(child)
        child.communicate()
        _clear_stale_locks(Path(request.repo))
        return Outcome("timeout", "killed at the deadline")
    try:
        result = json.loads(out)
        return Outcome(**result)
    except (ValueError, TypeError):
        tail = err.decode("utf-8", "replace")[-_STDERR_TAIL:].strip()
        return Outcome("libgit2", f"git worker exited {child.returncode}: {tail}")


def _kill(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited just as the deadline passed
        os.killpg(child.pid, signal.SIGKILL)


def _clear_stale_locks(repo: Path) -> None:
    # A killed libgit2 leaves its *.lock files (refs, shallow, config) behind, and the next
    # operation on this cache would fail on them. Only this process uses the cache.
    for lock in repo.rglob("*.lock"):
        lock.unlink(missing_ok=True)


def _auth_fields(auth: GitAuth) -> dict[str, str | None]:
    return {name: None if value is None else str(value) for name, value in vars(auth).items()}


def _auth_from(fields: dict[str, str | None]) -> GitAuth:
    def path(name: str) -> Path | None:
        value = fields.get(name)
        return Path(value) if value else None

    return GitAuth(
        token=fields.get("token"),
        username=fields.get("username"),
        ssh_private_key=path("ssh_private_key"),
        ssh_public_key=path("ssh_public_key"),
        ssh_passphrase=fields.get("ssh_passphrase"),
        known_hosts=path("known_hosts"),
    )


class _PushCallbacks(GitCallbacks):
    """GitCallbacks that also hear the remote refuse a reference (non-fast-forward)."""

    def __init__(self, auth: GitAuth, deadline: float) -> None:
        super().__init__(auth, deadline)
        self.refused = ""

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.refused = f"{refname}: {message}"


def _operate(request: Request, auth: GitAuth) -> Outcome:
    callbacks = _PushCallbacks(auth, deadline=time.monotonic() + request.timeout)
    settings = pygit2.settings
    millis = max(1, round(request.timeout * 1000))
    settings.server_connect_timeout = millis
    settings.server_timeout = millis
    if request.home is not None:
        settings.homedir = request.home
    try:
        remote = pygit2.Repository(request.repo).remotes["origin"]
        if request.op == "push":
            remote.push(request.refspecs, callbacks=callbacks)
        else:
            remote.fetch(
                request.refspecs, callbacks=callbacks, prune=FetchPrune.PRUNE, depth=request.depth
            )
    except AuthRejectedError as e:
        return Outcome("auth", str(e))
    except TimeoutError as e:
        return Outcome("timeout", str(e))
    except (pygit2.GitError, KeyError, ValueError, OSError) as e:
        return Outcome("libgit2", str(e), type(e).__name__, rejected_host=callbacks.rejected_host)
    return Outcome("ok", rejected_host=callbacks.rejected_host, refused=callbacks.refused)


def main() -> None:
    """The child's side: one JSON request on stdin, one JSON outcome on stdout."""
    message: dict[str, Any] = json.loads(sys.stdin.buffer.read())
    outcome = _operate(Request(**message["request"]), _auth_from(message["auth"]))
    sys.stdout.write(json.dumps(asdict(outcome)))


if __name__ == "__main__":
    main()
