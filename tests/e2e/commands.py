"""The kind e2e's I/O: docker, kind and kubectl as subprocesses, waiting, and diagnostics.

Every command is a fixed argument list (no shell). A failing command becomes an
``E2EError`` carrying the end of its stderr; a wait that runs out of time becomes one that
says what it waited for. ``diagnostics`` gathers what a person needs to see why: nodes,
pods, events, Helm's release records, the controller's /status and every pod's logs.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.e2e import layout

T = TypeVar("T")
#: Lines of a command's stderr kept in an error message, and of each pod log printed.
ERROR_LINES = 20
LOG_LINES = 150


class E2EError(Exception):
    """A step of the e2e failed; the message says what and why."""


def run(
    args: Sequence[str],
    *,
    stdin: str | None = None,
    check: bool = True,
    stream: bool = False,
    timeout: float = 600,
) -> str:
    """Run a command; ``stream`` shows its output live (builds, cluster creation)."""
    if stream:
        print(f"    $ {shlex.join(args)}", flush=True)
    try:
        done = subprocess.run(
            list(args),
            input=stdin,
            text=True,
            capture_output=not stream,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise E2EError(f"{shlex.join(args[:4])} ... took longer than {timeout:.0f}s") from e
    if check and done.returncode != 0:
        tail = "\n".join((done.stderr or "").strip().splitlines()[-ERROR_LINES:])
        raise E2EError(f"{shlex.join(args[:6])} exited {done.returncode}\n{tail}".rstrip())
    return done.stdout or ""


def kind(*args: str, stream: bool = False, check: bool = True, timeout: float = 900) -> str:
    return run(["kind", *args], stream=stream, check=check, timeout=timeout)


@dataclass(frozen=True)
class Cluster:
    """One kind cluster and the kubeconfig that reaches it (never the user's own)."""

    name: str
    kubeconfig: Path

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> str:
        return run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            stdin=stdin,
            check=check,
            timeout=timeout,
        )

    def get(self, *args: str) -> Any:
        """``kubectl get ... -o json``, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def apply(self, manifests: Sequence[layout.Manifest]) -> None:
        items = {"apiVersion": "v1", "kind": "List", "items": list(manifests)}
        self.kubectl("apply", "-f", "-", stdin=json.dumps(items))

    def service_proxy(self, namespace: str, service: str, path: str) -> str:
        """GET through the API server's service proxy: no port-forward needed."""
        return self.kubectl(
            "get", "--raw", f"/api/v1/namespaces/{namespace}/services/{service}/proxy{path}"
        )


def wait_until(
    what: str, check: Callable[[], T | None], *, timeout: float, interval: float = 5.0
) -> T:
    """Poll ``check`` until it returns a value; say what is awaited, and for how long."""
    print(f"    waiting up to {minutes(timeout)} for {what}", flush=True)
    start = time.monotonic()
    next_note = start + 60
    while True:
        result = check()
        now = time.monotonic()
        if result is not None:
            print(f"    ok after {minutes(now - start)}: {what}", flush=True)
            return result
        if now - start > timeout:
            raise E2EError(f"timed out after {minutes(timeout)} waiting for {what}")
        if now >= next_note:
            print(f"    ... still waiting ({minutes(now - start)}) for {what}", flush=True)
            next_note = now + 60
        time.sleep(interval)


def minutes(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def diagnostics(cluster: Cluster, out: Path) -> str:
    """Everything that explains a failure, written under ``out`` and returned for printing.

    Never raises: a broken cluster is exactly when this runs.
    """
    out.mkdir(parents=True, exist_ok=True)
    sections: list[tuple[str, str]] = []

    def grab(title: str, *args: str) -> None:
        try:
            text = cluster.kubectl(*args, check=False, timeout=60)
        except E2EError as e:
            text = str(e)
        sections.append((title, text.strip() or "(nothing)"))

    grab("nodes", "get", "nodes", "-o", "wide", "--show-labels")
    grab(
        "GPU capacity per node",
        "get",
        "nodes",
        "-o",
        "custom-columns=NODE:.metadata.name,GPU:.status.allocatable.nvidia\\.com/gpu,"
        "TAINTS:.spec.taints[*].key",
    )
    grab("pods", "get", "pods", "-A", "-o", "wide")
    grab(
        "Helm release records",
        "get",
        "secrets",
        "-A",
        "-l",
        "owner=helm",
        "-L",
        "name,status,version",
    )
    grab(
        "controller /status",
        "get",
        "--raw",
        f"/api/v1/namespaces/{layout.CONTROLLER_NAMESPACE}/services/"
        f"{layout.CONTROLLER_SERVICE}:http/proxy/status",
    )
    namespaces = (layout.CONTROLLER_NAMESPACE, layout.WORKLOAD_NAMESPACE, layout.TOOLS_NAMESPACE)
    for namespace in namespaces:
        grab(f"events in {namespace}", "get", "events", "-n", namespace, "--sort-by=.lastTimestamp")
        grab(f"pods in {namespace} (described)", "describe", "pods", "-n", namespace)
        grab(
            f"logs in {namespace}",
            "logs",
            "-n",
            namespace,
            "--all-containers",
            "--prefix",
            "--tail=-1",
            "--selector=app.kubernetes.io/name",
            "--ignore-errors",
        )
        grab(
            f"logs of restarted containers in {namespace}",
            "logs",
            "-n",
            namespace,
            "--all-containers",
            "--prefix",
            "--previous",
            "--tail=-1",
            "--selector=app.kubernetes.io/name",
            "--ignore-errors",
        )
    printed = []
    for index, (title, text) in enumerate(sections):
        name = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
        (out / f"{index:02d}-{name}.txt").write_text(text + "\n", encoding="utf-8")
        lines = text.splitlines()
        shown = "\n".join(lines[-LOG_LINES:])
        cut = f" (last {LOG_LINES} of {len(lines)} lines)" if len(lines) > LOG_LINES else ""
        printed.append(f"----- {title}{cut}\n{shown}")
    return "\n".join(printed) + f"\n----- full diagnostics: {out}\n"
