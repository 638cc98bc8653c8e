"""Benchmark: the helm target on the local control plane, Workspaces of 2 clusters from Git.

A real ``git daemon`` serves the repo; the local control plane (tests/controlplane) has fake
8-GPU nodes for both clusters' pools. Each cluster gets its own Syncer (pygit2 source, helm
target), as two controllers would; each applies CONCURRENCY actions at a time (default 1, as
`modelsync run` wires the helm target). Prints one JSON object:

- cold sync: every Workspace installed as a Helm release (both clusters), then the time
  until every Deployment is Available (the real controllers, scheduler and fake kubelet);
- no-op: a fresh Syncer's full pass over the installed releases (observe and plan only);
- one change: one Workspace edited, one upgrade;
- CPU seconds and peak RSS of this process (the controller's Python and Helm's Go).

    python bench/helm_cluster.py [WORKSPACES [CONCURRENCY]]     # default 1000, 1
"""

from __future__ import annotations

import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controller.adapters.bundled import load_bundle  # noqa: E402
from controller.adapters.charts import ChartSource  # noqa: E402
from controller.adapters.gitsource import GitRef, GitSource  # noqa: E402
from controller.adapters.helmtarget import HelmTarget  # noqa: E402
from controller.adapters.kube import KubeClient, KubeConnection  # noqa: E402
from controller.engine.sync import Syncer  # noqa: E402
from tests.controlplane.cluster import ControlPlane, start, stop  # noqa: E402
from tests.controlplane.nodes import load_cluster, node_specs  # noqa: E402
from tests.support.gitserver import GitDaemon, OriginRepo  # noqa: E402

CLUSTERS = ("east", "west")
NAMESPACES = ("team-a", "team-b")
PRESETS = ("phi-3.5-mini-instruct", "phi-4-mini-instruct", "qwen2.5-coder-7b-instruct")
CLUSTER = """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {{name: {name}}}
spec:
  namespaces: [team-a, team-b]
  defaults: {{namespace: team-a}}
  nodePools:
    - {{name: a100, gpu: A100-80GB, gpusPerNode: 8, nodes: {nodes}, labels: {{agentpool: {name}}}}}
"""


def workspace(i: int, length: int = 8192) -> str:
    return (
        f"apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata:\n  name: ws-{i:04d}\n"
        f"  namespace: {NAMESPACES[i % 2]}\n"
        f"  annotations: {{modelsync.dev/max-model-len: '{length}'}}\n"
        f"resource: {{}}\ninference:\n  preset: {{name: {PRESETS[i % len(PRESETS)]}}}\n"
    )


def path_of(i: int) -> str:
    return f"clusters/{CLUSTERS[(i // 2) % 2]}/ws-{i:04d}.yaml"


def available(kube: KubeClient) -> int:
    return sum(
        1
        for ns in NAMESPACES
        for d in kube.list(f"/apis/apps/v1/namespaces/{ns}/deployments")
        if (d.get("status") or {}).get("availableReplicas")
    )


def syncer_for(
    cluster: str, url: str, work: Path, plane: ControlPlane, concurrency: int = 1
) -> Syncer:
    bundle = load_bundle()
    charts = ChartSource(bundle.charts_dir)
    return Syncer(
        source=GitSource(url, GitRef(branch="main"), work / f"cache-{cluster}-{time.time()}"),
        target=HelmTarget(KubeConnection(plane.kubeconfig), charts, cluster, timeout=120),
        schemas=bundle.schemas,
        catalog=bundle.catalog,
        charts=charts,
        cluster=cluster,
        concurrency=concurrency,
    )


def run(workspaces: int, work: Path, concurrency: int = 1) -> dict[str, Any]:
    origin = OriginRepo(work / "served" / "clusters.git", work / "checkout")
    nodes = math.ceil(workspaces / len(CLUSTERS) / 8)  # one GPU each, a little room left
    for name in CLUSTERS:
        origin.write(f"clusters/{name}/cluster.yaml", CLUSTER.format(name=name, nodes=nodes + 1))
    for i in range(workspaces):
        origin.write(path_of(i), workspace(i))
    origin.commit(f"{workspaces} Workspaces")
    files = [work / "checkout" / "clusters" / c / "cluster.yaml" for c in CLUSTERS]
    specs = [s for f in files for s in node_specs(load_cluster(f))]
    plane, processes = start(work / "controlplane", specs)
    connection = KubeConnection(plane.kubeconfig)
    kube = connection.client()
    try:
        for ns in NAMESPACES:
            kube.create("/api/v1/namespaces", {"metadata": {"name": ns}})
        with GitDaemon(work / "served") as daemon:
            url = daemon.url(origin.name)
            syncers = {c: syncer_for(c, url, work, plane, concurrency) for c in CLUSTERS}
            began = time.perf_counter()
            cold = {}
            for name, syncer in syncers.items():
                started = time.perf_counter()
                result = syncer.run_pass()
                assert result.ok, result
                assert all(r.ok for r in result.results), result
                cold[name] = {
                    "seconds": round(time.perf_counter() - started, 2),
                    "installed": len(result.results),
                }
            installed = time.perf_counter() - began
            while available(kube) < workspaces:
                assert time.perf_counter() - began < 3600
                time.sleep(0.5)
            all_ready = time.perf_counter() - began

            fresh = syncer_for("east", url, work, plane)
            started = time.perf_counter()
            noop = fresh.run_pass()
            noop_seconds = time.perf_counter() - started
            assert noop.ok, noop
            assert not noop.results, noop

            origin.write(path_of(0), workspace(0, 4096))
            origin.commit("change ws-0000")
            started = time.perf_counter()
            one = syncers["east"].run_pass()
            one_seconds = time.perf_counter() - started
            assert [r.step.action for r in one.results] == ["upgrade"], one.results
    finally:
        connection.close()
        stop(plane)
        for process in processes:
            process.wait()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "benchmark": "helm_cluster",
        "workspaces": workspaces,
        "clusters": len(CLUSTERS),
        "concurrency": concurrency,
        "control_plane_start_seconds": round(plane.started_seconds, 2),
        "cold_sync": cold,
        "installed_seconds": round(installed, 2),
        "all_available_seconds": round(all_ready, 2),
        "noop_full_pass_seconds": round(noop_seconds, 3),
        "one_change_seconds": round(one_seconds, 3),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def main() -> None:
    workspaces = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    with tempfile.TemporaryDirectory() as tmp:
        result = run(workspaces, Path(tmp), concurrency)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
