"""The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
fake GPU nodes on 127.0.0.1, started from the binary ``build.py`` makes.

Test infrastructure (tests/controlplane). ``start()`` brings one up in a folder and returns
once every node is Ready and schedulable; ``stop()`` ends its processes. The pytest fixture
(``fixtures.py``) starts one per test session in a temporary folder; ``make cluster`` keeps
one in ``.modelsync/cluster`` until ``make cluster-down``:

    python -m tests.controlplane.cluster up [--cluster dev]   # prints the kubeconfig's path
    python -m tests.controlplane.cluster down

The folder holds ``pki/`` (credentials), ``etcd/`` (data), ``logs/<component>.log``, one
kubeconfig per client (``kubeconfig`` is the administrator's), ``nodes.json`` and
``state.json`` (ports and process ids, for ``running()`` and ``down``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.controlplane import components
from tests.controlplane.build import REPO, BuildError, ensure_binary
from tests.controlplane.nodes import ClusterFileError, NodeSpec, load_cluster, node_specs
from tests.controlplane.pki import ADMIN, CLIENTS, ensure_pki
from tests.controlplane.processes import (
    StartError,
    client_context,
    free_port,
    http_ok,
)
from tests.controlplane.processes import (
    stop as stop_processes,
)

DEFAULT_DIR = REPO / ".modelsync" / "cluster"


@dataclass(frozen=True)
class Ports:
    etcd: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())


@dataclass(frozen=True)
class ControlPlane:
    """A started control plane: where it lives, how to reach it, which processes it is."""

    dir: Path
    binary: Path
    ports: Ports
    pids: dict[str, int]  # component -> process id, in start order
    nodes: int
    started_seconds: float = 0.0

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    def healthy(self) -> bool:
        pki = self.dir / "pki"
        context = client_context(pki / "ca.crt", pki / "admin.crt", pki / "admin.key")
        return http_ok(f"{self.server}/readyz", context)


def start(
    directory: Path, nodes: list[NodeSpec], *, durable: bool = False
) -> tuple[ControlPlane, list[subprocess.Popen[bytes]]]:
    """Start every component in ``directory`` and wait until the nodes are schedulable.

    ``durable`` keeps etcd's writes synced to disk (``make cluster``); a test session's
    etcd skips fsync, its data is thrown away. On failure the processes already started
    are stopped and StartError names the component and ends with its log.
    """
    started = time.monotonic()
    binary = ensure_binary()
    directory.mkdir(parents=True, exist_ok=True)
    pki = ensure_pki(directory / "pki")
    ports = Ports.free()
    plane = ControlPlane(directory, binary, ports, {}, len(nodes))
    for client in CLIENTS:
        name = "kubeconfig" if client is ADMIN else f"{client.file}.kubeconfig"
        components.write_kubeconfig(directory / name, plane.server, pki, client)
    (directory / "nodes.json").write_text(json.dumps(nodes, indent=1))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for component in components.ORDER:
            process = components.launch(component, plane, pki, durable=durable)
            processes.append(process)
            plane.pids[component] = process.pid
            components.wait_ready(component, plane, pki, process)
    except BaseException:
        stop_processes(list(reversed(plane.pids.values())), binary)
        for process in processes:
            process.wait()
        raise
    plane = ControlPlane(
        directory, binary, ports, plane.pids, len(nodes), time.monotonic() - started
    )
    (directory / "state.json").write_text(json.dumps(asdict(plane), default=str, indent=1))
    return plane, processes


def stop(plane: ControlPlane) -> None:
    """End the control plane's processes, clients first, etcd last."""
    stop_processes(list(reversed(plane.pids.values())), plane.binary)


def running(directory: Path) -> ControlPlane | None:
    """The control plane ``state.json`` in ``directory`` describes, if it still answers."""
    try:
        state = json.loads((directory / "state.json").read_text())
    except (OSError, ValueError):
        return None
    plane = ControlPlane(
        dir=Path(state["dir"]),
        binary=Path(state["binary"]),
        ports=Ports(**state["ports"]),
        pids={str(k): int(v) for k, v in state["pids"].items()},
        nodes=int(state["nodes"]),
    )
    return plane if plane.healthy() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.controlplane.cluster")
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--cluster", default="dev", help="clusters/<name>/cluster.yaml's pools")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    directory: Path = args.dir.resolve()
    if args.command == "down":
        plane = running(directory)
        if plane is None:
            print(f"no control plane answers in {directory}")
        else:
            stop(plane)
            print(f"stopped the control plane in {directory}")
        (directory / "state.json").unlink(missing_ok=True)
        return 0
    plane = running(directory)
    if plane is not None:
        print(f"already running ({plane.server}); kubeconfig:", file=sys.stderr)
        print(plane.kubeconfig)
        return 0
    try:
        nodes = node_specs(load_cluster(REPO / "clusters" / args.cluster / "cluster.yaml"))
        plane, _ = start(directory, nodes, durable=True)
    except (BuildError, ClusterFileError, StartError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(
        f"control plane up in {plane.started_seconds:.1f}s at {plane.server}: "
        f"{plane.nodes} fake nodes of clusters/{args.cluster}; logs in {plane.logs}; "
        "kubeconfig:",
        file=sys.stderr,
    )
    print(plane.kubeconfig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
