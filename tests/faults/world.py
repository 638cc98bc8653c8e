"""One fault scenario's world: a Git repository served by `git daemon`, the real
`modelsync run` (helm target) talking to the local control plane through the fault proxy,
a watch on Helm's release records, and the counts the suite reports.

Test support for tests/faults. Each scenario gets its own namespace and repository (the
lab cluster file naming only that namespace), so scenarios never see each other's
releases. ``outcome()`` waits for convergence and measures, for the report:

- intended: the releases Git asks for now; present: releases with any record now;
- unintended uninstalls: see ``releasewatch.py``;
- lost: intended releases with no deployed record, or no Deployment, at the deadline;
- orphans: modelsync's Deployments, Jobs and Services whose release has no record;
- converge: seconds from the end of the fault until all of the above hold.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from controller.adapters.kube import KubeClient
from tests.cluster.lab import lab_cluster
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.components import write_kubeconfig
from tests.controlplane.pki import ADMIN, Pki
from tests.faults.proxy import FaultProxy
from tests.faults.releasewatch import ReleaseWatch
from tests.support.gitserver import GitDaemon, OriginRepo
from tests.support.helmpass import inference
from tests.support.replica import Replica

#: Every scenario must be back to the intended state this long after its fault ends.
CONVERGE_DEADLINE = 60.0
#: Passes every second, Helm actions cut after 8s: scenarios take seconds, not minutes.
CONFIG = "cluster: lab\ninterval: 1s\ntimeout: 8s\ntarget: helm\n"
LEASE = "{enabled: true, leaseDuration: 4s, renewDeadline: 3s, retryPeriod: 1s}"
PART_OF = "app.kubernetes.io/part-of=modelsync"
INSTANCE = "app.kubernetes.io/instance"
WORKLOADS = ("/apis/apps/v1/namespaces/{}/deployments", "/apis/batch/v1/namespaces/{}/jobs")
OBJECTS = (*WORKLOADS, "/api/v1/namespaces/{}/services")


@dataclass(frozen=True)
class Outcome:
    scenario: str
    faults: str
    intended: int
    present: int
    unintended: tuple[str, ...]
    lost: tuple[str, ...]
    orphans: tuple[str, ...]
    converge_s: float | None  # None: not within the deadline
    reinstalls: int = 0
    notes: str = ""

    @property
    def ok(self) -> bool:
        bad = self.unintended or self.lost or self.orphans
        return not bad and self.converge_s is not None


@dataclass
class World:
    plane: ControlPlane
    proxy: FaultProxy
    kube: KubeClient
    namespace: str
    origin: OriginRepo
    daemon: GitDaemon
    dir: Path
    replicas: list[Replica] = field(default_factory=list)
    workspaces: dict[str, str] = field(default_factory=dict)  # name -> file in Git
    expected_commit: dict[str, str] = field(default_factory=dict)
    note: str = ""  # what the controller said under the fault, for the report

    def __post_init__(self) -> None:
        self._marks = (0, 0)
        self.kubeconfig = self.dir / "proxy.kubeconfig"
        write_kubeconfig(self.kubeconfig, self.proxy.url, Pki(self.plane.dir / "pki"), ADMIN)
        self.watch = ReleaseWatch(self.plane, self.namespace)
        # Room in Git for every Workspace a module's scenarios add (the pods may stay Pending).
        cluster = lab_cluster(self.namespace, nodes={"a10": 32})
        self.origin.write("clusters/lab/cluster.yaml", cluster)

    # --- Git ----------------------------------------------------------------------------

    def put(self, name: str, *, file: str = "", context: int | None = None) -> None:
        """A serving Workspace ``name`` in ``clusters/lab/<file or name>.yaml``; a
        ``context`` (max model length) changes its values, so its release is upgraded."""
        path = f"clusters/lab/{file or name}.yaml"
        self.origin.write(path, inference(name, namespace=self.namespace, context=context))
        self.workspaces[name] = path

    def drop(self, name: str) -> None:
        self.origin.remove(self.workspaces.pop(name))

    def commit(self, message: str) -> str:
        """Tell the watch what Git now intends, then push."""
        self.watch.intend(self.workspaces)
        return self.origin.commit(message)

    # --- the controller -----------------------------------------------------------------

    def config(self, extra: str = "") -> Path:
        path = self.dir / "config.yaml"
        url = self.daemon.url(self.origin.name)
        path.write_text(f"{CONFIG}repo: {{url: '{url}', branch: main}}\n{extra}")
        return path

    def start(
        self,
        name: str = "modelsync-a",
        *,
        extra: str = "leaderElection: {enabled: false}\n",
        env: dict[str, str] | None = None,
        repo: str | None = None,
        args: Sequence[str] = (),
    ) -> Replica:
        config = self.config(extra)
        if repo is not None:
            config.write_text(config.read_text().replace(self.daemon.url(self.origin.name), repo))
        replica = Replica(name, config, self.kubeconfig, self.namespace, env=env, args=args)
        self.replicas.append(replica)
        return replica

    def tail(self, lines: int = 25) -> str:
        """The end of each replica's log, for a failed scenario's message."""
        return "\n".join(
            f"--- {r.name}\n" + "\n".join(r.log.read_text(errors="replace").splitlines()[-lines:])
            for r in self.replicas
        )

    def stop(self) -> list[str]:
        """Stop every replica (SIGTERM); their logs."""
        return [r.stop() for r in self.replicas]

    # --- measuring ----------------------------------------------------------------------

    def deployed(self) -> bool:
        present = self.watch.present()
        return all(
            name in present
            and present[name].status == "deployed"
            and present[name].commit == self.expected_commit.get(name, present[name].commit)
            for name in self.workspaces
        )

    def _objects(self, paths: tuple[str, ...]) -> list[tuple[str, str]]:
        found = []
        for path in paths:
            for item in self.kube.list(path.format(self.namespace), label_selector=PART_OF):
                meta = item["metadata"]
                found.append((f"{path.rsplit('/', 1)[1]}/{meta['name']}", meta["labels"][INSTANCE]))
        return found

    def orphans(self) -> list[str]:
        present = self.watch.present()
        return [name for name, release in self._objects(OBJECTS) if release not in present]

    def lost(self) -> list[str]:
        present = self.watch.present()
        running = {release for _, release in self._objects(WORKLOADS)}
        return [
            name
            for name in sorted(self.workspaces)
            if name not in present or present[name].status != "deployed" or name not in running
        ]

    def converged(self) -> bool:
        present = self.watch.present()
        extra = set(present) - set(self.workspaces)
        return self.deployed() and not extra and not self.orphans() and not self.lost()

    def converge(self, since: float, deadline: float = CONVERGE_DEADLINE) -> float | None:
        """Seconds from ``since`` (monotonic) until converged; None past the deadline."""
        while not self.converged():
            if time.monotonic() - since > deadline:
                return None
            time.sleep(0.2)
        return time.monotonic() - since

    def begin(self) -> None:
        """A scenario starts: what the watch saw before is not its to count (a world can
        be shared by the scenarios of a module, one after another)."""
        self._marks = (len(self.watch.unintended), len(self.watch.reinstalls))

    def outcome(self, scenario: str, faults: str, since: float, notes: str = "") -> Outcome:
        converge = self.converge(since)
        return Outcome(
            scenario=scenario,
            faults=faults,
            intended=len(self.workspaces),
            present=len(self.watch.present()),
            unintended=tuple(self.watch.unintended[self._marks[0] :]),
            lost=tuple(self.lost()),
            orphans=tuple(self.orphans()),
            converge_s=None if converge is None else round(converge, 2),
            reinstalls=len(self.watch.reinstalls) - self._marks[1],
            notes=notes,
        )
