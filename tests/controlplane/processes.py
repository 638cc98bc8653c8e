"""Starting, probing and stopping the control plane's processes.

Test infrastructure (tests/controlplane), under ``cluster.py``: each component is one
process of the multi-call binary, started through a link named after the component (so its
user agent and field manager are ``kube-controller-manager``, ``kube-scheduler``, ... as in
a real cluster), in its own session (so ``make cluster`` can leave it running, and a Ctrl-C
in a terminal reaches only the launcher), logging to one file. A process is only ever
stopped by the id it was started with, and only while that id still runs our binary.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: How long one component may take to come up on a busy two-core machine.
START_TIMEOUT = 90.0


class StartError(Exception):
    """A component exited or never became healthy; the message ends with its log's tail."""


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def spawn(binary: Path, component: str, args: Sequence[str], logs: Path) -> subprocess.Popen[bytes]:
    """``<binary's folder>/<component> args...`` (a link to the binary), its output
    appended to ``logs/<component>.log``."""
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{component}.log").open("ab") as log:
        return subprocess.Popen(
            [str(binary.parent / component), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def log_tail(logs: Path, component: str, lines: int = 15) -> str:
    path = logs / f"{component}.log"
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_until(
    what: str,
    ready: Callable[[], bool],
    process: subprocess.Popen[bytes] | None,
    *,
    logs: Path,
    component: str,
    timeout: float = START_TIMEOUT,
) -> None:
    """Poll ``ready`` until it holds; fail early when ``process`` exits."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process is not None and process.poll() is not None:
            raise StartError(
                f"{component} exited ({process.returncode}) before {what}:\n"
                + log_tail(logs, component)
            )
        if time.monotonic() > deadline:
            raise StartError(
                f"{component}: no {what} after {timeout:.0f}s:\n" + log_tail(logs, component)
            )
        time.sleep(0.2)


def http_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    """GET ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def get_json(url: str, context: ssl.SSLContext) -> Any:
    """GET ``url`` as JSON (raises OSError when it cannot be read)."""
    with urllib.request.urlopen(url, timeout=5, context=context) as answer:
        return json.load(answer)


def client_context(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    """TLS to the API server: its CA trusted, a client certificate presented."""
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    return context


def insecure_context() -> ssl.SSLContext:
    """For the health endpoints of the controller manager and the scheduler on loopback:
    each serves a certificate it made for itself at start, which nothing can trust ahead."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def runs(pid: int, binary: Path) -> bool:
    """Process ``pid`` exists and runs our binary through one of its links (not a later
    process given the same id)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return Path(command.decode(errors="replace")).parent == binary.parent


def stop(pids: Sequence[int], binary: Path, timeout: float = 15.0) -> None:
    """SIGTERM each process that still runs our binary, SIGKILL those still there after
    ``timeout``; pids are given in the order to stop them (clients before servers)."""
    for pid in pids:
        if not runs(pid, binary):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while runs(pid, binary) and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if runs(pid, binary) and _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Not yet exited: a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
