"""libgit2 network operations (fetch, push) in a child process the deadline can kill.

Adapter layer, under ``gitsource``. libgit2's socket timeout bounds each read, not the
operation: a remote that trickles one byte a second keeps a fetch alive for ever, and the
deadline checked in the progress callbacks is never reached before the pack starts. A
thread blocked in libgit2 cannot be stopped, so the operations run in a worker process
(``python -m controller.adapters.gitworker``) that is killed when a deadline passes and
started again for the next operation.

One worker serves the whole controller, one operation at a time (libgit2's timeouts and
home directory are process-wide settings, so operations would take turns anyway); it is
started once, so an operation costs a pipe round trip, not an interpreter start. Requests,
credentials included, go over its stdin as one JSON line (never argv or environment);
each outcome comes back as one JSON line on its stdout.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal

import pygit2
from pygit2.enums import FetchPrune

from controller.adapters.gitauth import AuthRejectedError, GitAuth, GitCallbacks

__all__ = ["Outcome", "Request", "run"]

_MAX_MESSAGE = 2000


@dataclass(frozen=True)
class Request:
    """What the worker does: fetch ``refspecs`` into, or push them from, the bare ``repo``."""

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


class _Worker:
    """The running worker process, started on first use and after each kill."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def run(self, request: Request, auth: GitAuth) -> Outcome:
        line = json.dumps({"request": asdict(request), "auth": _auth_fields(auth)}) + "\n"
        with self._lock:  # the deadline starts once it is this operation's turn
            deadline = time.monotonic() + request.timeout
            process = self._started()
            assert process.stdin is not None
            assert process.stdout is not None
            try:
                process.stdin.write(line.encode())
                process.stdin.flush()
                answer = _read_line(process.stdout, deadline)
            except (BrokenPipeError, EOFError):
                self._stop()
                return Outcome("libgit2", "the git worker exited")
            if answer is None:
                self._stop()
                _clear_stale_locks(Path(request.repo))
                return Outcome("timeout", "killed at the deadline")
            return Outcome(**json.loads(answer))

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                # -P: the working directory (a clusters checkout, say) must not shadow a module.
                [sys.executable, "-P", "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # outcomes carry the errors; nothing unredacted
            )
        return self._process

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
            self._process = None

    def close(self) -> None:
        with self._lock:
            self._stop()


_WORKER = _Worker()
atexit.register(_WORKER.close)


def run(request: Request, auth: GitAuth) -> Outcome:
    """Run ``request`` in the worker; past the deadline, kill it and report a timeout."""
    # The worker keeps the working directory it started in: send absolute paths.
    request = replace(
        request,
        repo=str(Path(request.repo).absolute()),
        home=None if request.home is None else str(Path(request.home).absolute()),
    )
    return _WORKER.run(request, auth)


def _read_line(stream: IO[bytes], deadline: float) -> bytes | None:
    """One line from ``stream``, or None when the deadline passes first."""
    fd = stream.fileno()
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError
            data += chunk
    return data


def _clear_stale_locks(repo: Path) -> None:
    # A killed libgit2 leaves its *.lock files (refs, shallow, config) behind, and the next
    # operation on this cache would fail on them. Only this process uses the cache.
    for lock in repo.rglob("*.lock"):
        lock.unlink(missing_ok=True)


def _auth_fields(auth: GitAuth) -> dict[str, str | None]:
    def text(value: object) -> str | None:
        if value is None:
            return None
        return str(value.absolute()) if isinstance(value, Path) else str(value)

    return {name: text(value) for name, value in vars(auth).items()}


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


# --- the worker's side --------------------------------------------------------------------


class _PushCallbacks(GitCallbacks):
    """GitCallbacks that also hear the remote refuse a reference (non-fast-forward)."""

    def __init__(self, auth: GitAuth, deadline: float) -> None:
        super().__init__(auth, deadline)
        self.refused = ""

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.refused = f"{refname}: {message}"


def _operate(request: Request, auth: GitAuth, default_home: str | None) -> Outcome:
    callbacks = _PushCallbacks(auth, deadline=time.monotonic() + request.timeout)
    settings = pygit2.settings
    millis = max(1, round(request.timeout * 1000))
    settings.server_connect_timeout = millis
    settings.server_timeout = millis
    home = request.home or default_home
    if home is not None:  # back to the user's own for a request without known_hosts
        settings.homedir = home
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
    except Exception as e:  # every failure is an outcome; the worker stays up for the next
        return Outcome(
            "libgit2",
            str(e)[:_MAX_MESSAGE],
            type(e).__name__,
            rejected_host=callbacks.rejected_host,
        )
    return Outcome("ok", rejected_host=callbacks.rejected_host, refused=callbacks.refused)


def main() -> None:
    """Serve requests, one JSON line in and one out, until stdin closes."""
    default_home = pygit2.settings.homedir
    for line in sys.stdin.buffer:
        message: dict[str, Any] = json.loads(line)
        outcome = _operate(Request(**message["request"]), _auth_from(message["auth"]), default_home)
        sys.stdout.write(json.dumps(asdict(outcome)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
