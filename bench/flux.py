"""Benchmark: modelsync's helm target side by side with Flux on the same local control plane.

The same WORKSPACES Workspaces as bench/helm_cluster.py (two clusters' worth, fake A100
nodes), the same chart and the same values: modelsync computes each release's values from
Git; Flux gets them as HelmReleases whose chart comes from a GitRepository (the same
repository, served by `git http-backend` on loopback) through one shared HelmChart.
Flux's helm-controller and source-controller are built from Go modules (tests/flux) and
run with their default flags (helm-controller --concurrent=4, source-controller 2).

Each side gets a fresh control plane. Measured for each:
- time until every release is installed (modelsync: its passes return; Flux: every
  HelmRelease Ready, which with Flux's default `wait` also means its Deployment is ready),
- time until every Deployment is Available (the real controllers and the fake kubelet),
- CPU seconds and peak RSS of the controller processes (modelsync: the bench process that
  runs both clusters' Syncers, Helm's Go included; Flux: both controllers together).

    python bench/flux.py [WORKSPACES [CONCURRENCY]]    # default 1000, modelsync at 1
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.helm_cluster import CLUSTER, CLUSTERS, NAMESPACES, path_of, workspace  # noqa: E402
from controller.adapters.bundled import load_bundle  # noqa: E402
from controller.adapters.charts import ChartSource  # noqa: E402
from controller.adapters.files import read_paths  # noqa: E402
from controller.adapters.kube import KubeClient, KubeConnection  # noqa: E402
from controller.core.releases import DesiredRelease, desired_releases  # noqa: E402
from controller.core.validation import validate_files  # noqa: E402
from tests.controlplane.cluster import ControlPlane, start, stop  # noqa: E402
from tests.controlplane.nodes import load_cluster, node_specs  # noqa: E402
from tests.flux.build import crds, ensure_binaries  # noqa: E402
from tests.support.gitserver import GitHttpServer, OriginRepo, free_port  # noqa: E402

FLUX_NS = "flux-system"
TOKEN = secrets.token_hex(16)  # the git server's basic-auth password, per run
CHART = "workspace-inference"


def write_repo(work: Path, workspaces: int) -> OriginRepo:
    """The clusters repo of bench/helm_cluster.py, plus the chart for Flux to build from."""
    origin = OriginRepo(work / "served" / "clusters.git", work / "checkout")
    nodes = math.ceil(workspaces / len(CLUSTERS) / 8)
    for name in CLUSTERS:
        origin.write(f"clusters/{name}/cluster.yaml", CLUSTER.format(name=name, nodes=nodes + 1))
    for i in range(workspaces):
        origin.write(path_of(i), workspace(i))
    shutil.copytree(load_bundle().charts_dir / CHART, origin.work / "charts" / CHART)
    origin.commit(f"{workspaces} Workspaces")
    return origin


def releases(checkout: Path) -> list[DesiredRelease]:
    """What modelsync would install: each release's name, namespace and values."""
    bundle = load_bundle()
    report = validate_files(
        read_paths([checkout / "clusters"], checkout),
        schemas=bundle.schemas,
        catalog=bundle.catalog,
    )
    versions = ChartSource(bundle.charts_dir).versions()
    return [d for c in report.clusters for d in desired_releases(c, versions)]


def run_modelsync(workspaces: int, concurrency: int) -> dict[str, Any]:
    """bench/helm_cluster.py in its own process, so its CPU and RSS are modelsync's alone."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "helm_cluster.py"),
            str(workspaces),
            str(concurrency),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _flux_objects(port: int, desired: list[DesiredRelease]) -> list[tuple[str, dict[str, Any]]]:
    source = {"apiVersion": "source.toolkit.fluxcd.io/v1", "metadata": {"namespace": FLUX_NS}}
    objects: list[tuple[str, dict[str, Any]]] = [
        (
            f"/api/v1/namespaces/{FLUX_NS}/secrets",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "git-auth", "namespace": FLUX_NS},
                "stringData": {"username": "git", "password": TOKEN},
            },
        ),
        (
            f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{FLUX_NS}/gitrepositories",
            source
            | {
                "kind": "GitRepository",
                "metadata": {"name": "clusters", "namespace": FLUX_NS},
                "spec": {
                    "interval": "10m",
                    "url": f"http://127.0.0.1:{port}/clusters.git",
                    "ref": {"branch": "main"},
                    "secretRef": {"name": "git-auth"},
                },
            },
        ),
        (
            f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{FLUX_NS}/helmcharts",
            source
            | {
                "kind": "HelmChart",
                "metadata": {"name": CHART, "namespace": FLUX_NS},
                "spec": {
                    "interval": "10m",
                    "chart": f"./charts/{CHART}",
                    "sourceRef": {"kind": "GitRepository", "name": "clusters"},
                },
            },
        ),
    ]
    for d in desired:
        objects.append(
            (
                f"/apis/helm.toolkit.fluxcd.io/v2/namespaces/{d.namespace}/helmreleases",
                {
                    "apiVersion": "helm.toolkit.fluxcd.io/v2",
                    "kind": "HelmRelease",
                    "metadata": {"name": d.name, "namespace": d.namespace},
                    "spec": {
                        "interval": "10m",
                        "releaseName": d.name,
                        "chartRef": {"kind": "HelmChart", "name": CHART, "namespace": FLUX_NS},
                        "values": dict(d.values),
                    },
                },
            )
        )
    return objects


def _ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    return status.get("observedGeneration") == generation and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _count(kube: KubeClient, resource: str, ok: Any) -> int:
    return sum(1 for ns in NAMESPACES for o in kube.list(resource.format(ns=ns)) if ok(o))


def _usage(pid: int) -> tuple[float, float]:
    """CPU seconds and peak RSS (MiB) of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = Path(f"/proc/{pid}/status").read_text()
    peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return cpu, peak / 1024


def _start_flux(bins: Path, plane: ControlPlane, work: Path) -> dict[str, subprocess.Popen[bytes]]:
    env = os.environ | {"KUBECONFIG": str(plane.kubeconfig), "RUNTIME_NAMESPACE": FLUX_NS}
    storage = free_port()
    common = ["--enable-leader-election=false", "--log-level=error", "--events-addr="]
    commands = {
        "source-controller": [
            f"--storage-path={work / 'artifacts'}",
            f"--storage-addr=127.0.0.1:{storage}",
            f"--storage-adv-addr=127.0.0.1:{storage}",
        ],
        "helm-controller": [],
    }
    (work / "artifacts").mkdir(exist_ok=True)
    logs = work / "flux-logs"
    logs.mkdir(parents=True, exist_ok=True)
    return {
        name: subprocess.Popen(
            [
                str(bins / name),
                *common,
                f"--metrics-addr=127.0.0.1:{free_port()}",
                f"--health-addr=127.0.0.1:{free_port()}",
                *flags,
            ],
            env=env,
            stdout=(logs / f"{name}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for name, flags in commands.items()
    }


def _apply_crds(kube: KubeClient) -> None:
    for path in crds():
        for document in yaml.safe_load_all(path.read_text()):
            kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", document)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = kube.list("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        established = [
            c
            for c in listed
            if any(
                x.get("type") == "Established" and x.get("status") == "True"
                for x in (c.get("status") or {}).get("conditions") or []
            )
        ]
        if len(established) >= len(listed):
            return
        time.sleep(0.2)
    raise TimeoutError("Flux's CRDs were not Established within 60 s")


def run_flux(workspaces: int, work: Path) -> dict[str, Any]:
    bins = ensure_binaries()
    origin = write_repo(work, workspaces)
    desired = releases(origin.work)
    assert len(desired) == workspaces, (len(desired), workspaces)
    files = [origin.work / "clusters" / c / "cluster.yaml" for c in CLUSTERS]
    specs = [s for f in files for s in node_specs(load_cluster(f))]
    plane, processes = start(work / "controlplane", specs)
    connection = KubeConnection(plane.kubeconfig)
    kube = connection.client()
    flux: dict[str, subprocess.Popen[bytes]] = {}
    try:
        _apply_crds(kube)
        for ns in (FLUX_NS, *NAMESPACES):
            kube.create("/api/v1/namespaces", {"metadata": {"name": ns}})
        with GitHttpServer(work / "served", TOKEN) as server:
            flux = _start_flux(bins, plane, work)
            began = time.perf_counter()
            for path, body in _flux_objects(server.port, desired):
                kube.create(path, body)
            created = time.perf_counter() - began
            ready = available = None
            while ready is None or available is None:
                elapsed = time.perf_counter() - began
                assert elapsed < 3600, "Flux did not converge within an hour"
                for name, process in flux.items():
                    if process.poll() is not None:
                        log = (work / "flux-logs" / f"{name}.log").read_text()[-3000:]
                        raise RuntimeError(f"{name} exited {process.returncode}:\n{log}")
                hrs = "/apis/helm.toolkit.fluxcd.io/v2/namespaces/{ns}/helmreleases"
                deployments = "/apis/apps/v1/namespaces/{ns}/deployments"
                if ready is None and _count(kube, hrs, _ready) >= workspaces:
                    ready = time.perf_counter() - began
                if (
                    available is None
                    and _count(
                        kube,
                        deployments,
                        lambda d: (d.get("status") or {}).get("availableReplicas"),
                    )
                    >= workspaces
                ):
                    available = time.perf_counter() - began
                time.sleep(1.0)
            usage = {name: _usage(p.pid) for name, p in flux.items()}
    finally:
        for process in flux.values():
            process.terminate()
            process.wait()
        connection.close()
        stop(plane)
        for process in processes:
            process.wait()
    return {
        "helmreleases": workspaces,
        "created_seconds": round(created, 2),
        "all_ready_seconds": round(ready, 2),
        "all_available_seconds": round(available, 2),
        "cpu_seconds": {name: round(cpu, 1) for name, (cpu, _) in usage.items()},
        "peak_rss_mib": {name: round(rss, 1) for name, (_, rss) in usage.items()},
    }


def main() -> None:
    workspaces = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    ours = run_modelsync(workspaces, concurrency)
    with tempfile.TemporaryDirectory() as tmp:
        theirs = run_flux(workspaces, Path(tmp))
    flux_cpu = sum(theirs["cpu_seconds"].values())
    flux_rss = sum(theirs["peak_rss_mib"].values())
    result = {
        "benchmark": "flux",
        "workspaces": workspaces,
        "modelsync": ours,
        "flux": theirs,
        "speedup_all_available": round(
            theirs["all_available_seconds"] / ours["all_available_seconds"], 2
        ),
        "cpu_ratio_flux_over_modelsync": round(flux_cpu / ours["cpu_seconds"], 2),
        "memory_ratio_modelsync_over_flux": round(ours["peak_rss_mib"] / flux_rss, 2),
        "flux_published": {"helmreleases": 1000, "seconds": 492, "rss_mib": 400, "cores": 16},
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
