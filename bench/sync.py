"""Benchmark: reconcile passes over a generated repo of 1,000 Workspaces in 2 clusters.

A real ``git daemon`` serves the repo; each cluster gets its own Syncer (pygit2 source,
hydrate target), as two controllers would. Prints one JSON object with, per scenario, the
time and what was touched:

- cold sync (render everything) of both clusters, against the serial sum of the Helm SDK's
  bare render time of the same 1,000 releases' values (goal: ratio <= 1.2);
- no-op resync on the same commit, and on a new commit touching no Workspace (<= 100 ms);
- one Workspace changed: exactly one release re-rendered (<= 200 ms plus that render);
- webhook-to-applied latency through ``modelsync run``'s HTTP server (<= 1 s).

Baseline in the same run: the same one-change commit applied by a full pass (no memo, no
skip) of a fresh Syncer, i.e. what the incremental path saves.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import helm_python as helm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controller.adapters.bundled import load_bundle  # noqa: E402
from controller.adapters.charts import ChartSource  # noqa: E402
from controller.adapters.gitsource import GitRef, GitSource  # noqa: E402
from controller.adapters.hydrate import HydrateTarget  # noqa: E402
from controller.core.releases import DesiredRelease, plain  # noqa: E402
from controller.core.webhooks import github_signature  # noqa: E402
from controller.engine.loop import Controller  # noqa: E402
from controller.engine.server import App, Server, WebhookSecrets  # noqa: E402
from controller.engine.sync import PassResult, Syncer  # noqa: E402
from tests.support.gitserver import GitDaemon, OriginRepo  # noqa: E402

WORKSPACES = 1000
CLUSTERS = ("east", "west")
PRESETS = ("phi-3.5-mini-instruct", "phi-4-mini-instruct", "qwen2.5-coder-7b-instruct")
CLUSTER = """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {{name: {name}}}
spec:
  namespaces: [default, team-a, team-b]
  nodePools:
    - {{name: a100, gpu: A100-80GB, gpusPerNode: 8, maxNodes: 100,
       instanceType: Standard_ND96amsr_A100_v4, labels: {{agentpool: a100}}}}
"""


def workspace(i: int, length: int = 8192) -> str:
    return (
        f"apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata:\n  name: ws-{i:04d}\n"
        f"  namespace: {('team-a', 'team-b')[i % 2]}\n"
        f"  annotations: {{modelsync.dev/max-model-len: '{length}'}}\n"
        "resource:\n  instanceType: Standard_ND96amsr_A100_v4\n"
        f"  labelSelector: {{matchLabels: {{apps: ws-{i:04d}}}}}\n"
        f"inference:\n  preset: {{name: {PRESETS[i % len(PRESETS)]}}}\n"
        "  config: {vllm: {max-num-seqs: 32}}\n"
    )


def path_of(i: int) -> str:
    return f"clusters/{CLUSTERS[i % len(CLUSTERS)]}/ws-{i:04d}.yaml"


def touched(result: PassResult) -> int:
    return len(result.results)


#: As `modelsync sync --target hydrate` wires it (controller/engine/settings.py).
CONCURRENCY = min(4, os.cpu_count() or 1)


def syncer_for(cluster: str, url: str, work: Path, charts: ChartSource) -> Syncer:
    bundle = load_bundle()
    return Syncer(
        source=GitSource(url, GitRef(branch="main"), work / f"cache-{cluster}"),
        target=HydrateTarget(work / "out", charts, cluster),
        schemas=bundle.schemas,
        catalog=bundle.catalog,
        charts=charts,
        cluster=cluster,
        concurrency=CONCURRENCY,
    )


def bare_renders(releases: list[DesiredRelease], threads: int = 1) -> float:
    """Seconds the Helm SDK alone takes to render these releases' values, each chart loaded
    once beforehand. With one thread: the sum of the single renders, the floor for a cold
    hydrate pass on one core. With more: the wall time, which shows whether the SDK's native
    calls run in parallel (ctypes releases the GIL around them)."""
    charts = {
        name: helm.Chart.load(load_bundle().charts_dir / name)
        for name in {r.chart for r in releases}
    }
    jobs = [(charts[r.chart], plain(r.values), r) for r in releases]

    def render(job: tuple[helm.Chart, dict[str, Any], DesiredRelease]) -> float:
        chart, values, release = job
        start = time.perf_counter()
        chart.render(values, name=release.name, namespace=release.namespace, is_install=True)
        return time.perf_counter() - start

    if threads == 1:
        return sum(render(job) for job in jobs)
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(render, jobs))
    return time.perf_counter() - start


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        origin = OriginRepo(work / "served" / "clusters.git", work / "checkout")
        for name in CLUSTERS:
            origin.write(f"clusters/{name}/cluster.yaml", CLUSTER.format(name=name))
        for i in range(WORKSPACES):
            origin.write(path_of(i), workspace(i))
        origin.commit("1,000 Workspaces")
        charts = ChartSource(load_bundle().charts_dir)
        with GitDaemon(work / "served") as daemon:
            url = daemon.url(origin.name)
            syncers = {c: syncer_for(c, url, work, charts) for c in CLUSTERS}
            cold = {c: timed(s.run_pass) for c, s in syncers.items()}
            assert all(r.ok and touched(r) == WORKSPACES // 2 for _, r in cold.values())
            desired = [d for s in syncers.values() for d in s.desired]
            bare = bare_renders(desired)
            bare_parallel = bare_renders(desired, threads=CONCURRENCY)

            same = [timed(syncers["east"].run_pass) for _ in range(5)]
            assert all(r.skipped == "commit unchanged" for _, r in same)

            origin.write("README.md", "docs only\n")
            origin.commit("docs")
            elsewhere = timed(syncers["east"].run_pass)
            assert elsewhere[1].skipped.startswith("no change under"), elsewhere[1]

            one: list[tuple[float, PassResult]] = []
            render: list[float] = []
            for n, length in enumerate((4096, 2048, 16384)):
                origin.write(path_of(2 * n), workspace(2 * n, length))
                origin.commit(f"change ws-{2 * n:04d}")
                seconds, result = timed(syncers["east"].run_pass)
                assert touched(result) == 1, result.results
                assert result.results[0].ok, result.results
                one.append((seconds, result))
                render.append(result.results[0].seconds)

            # Baseline: the same kind of change applied by a fresh Syncer's full pass.
            origin.write(path_of(6), workspace(6, 1024))
            origin.commit("change ws-0006")
            fresh = syncer_for("east", url, work, charts)
            full_seconds, full = timed(fresh.run_pass)
            assert touched(full) == 1

            latency = webhook_latency(origin, url, work, charts)

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "median_ms": round(statistics.median(values) * 1000, 2),
            "max_ms": round(max(values) * 1000, 2),
        }

    one_times = [s for s, _ in one]
    result = {
        "benchmark": "sync",
        "workspaces": WORKSPACES,
        "clusters": len(CLUSTERS),
        "cold_sync": {
            c: {"seconds": round(s, 3), "rendered": touched(r)} for c, (s, r) in cold.items()
        },
        "cold_sync_total_seconds": round(sum(s for s, _ in cold.values()), 3),
        "cold_sync_concurrency": CONCURRENCY,
        "baseline_bare_render_serial_seconds": round(bare, 3),
        "cold_sync_ratio_vs_bare_render": round(sum(s for s, _ in cold.values()) / bare, 2),
        "bare_render_wall_seconds_on_concurrency_threads": round(bare_parallel, 3),
        "sdk_thread_speedup": round(bare / bare_parallel, 2),
        "noop_same_commit": stats([s for s, _ in same]),
        "noop_commit_touching_no_workspace_ms": round(elsewhere[0] * 1000, 2),
        "one_change": stats(one_times)
        | {
            "releases_touched": 1,
            "render_of_that_release_median_ms": round(statistics.median(render) * 1000, 2),
            "without_render_median_ms": round(
                statistics.median(t - r for t, r in zip(one_times, render, strict=True)) * 1000, 2
            ),
        },
        "baseline_full_pass_one_change_ms": round(full_seconds * 1000, 2),
        "speedup_vs_full_pass": round(full_seconds / statistics.median(one_times), 1),
        "webhook_to_applied_ms": stats(latency),
        "targets": {
            "cold_sync_ratio_vs_bare_render": 1.2,
            "noop_ms": 100,
            "one_change_ms": "200 + render",
            "webhook_ms": 1000,
        },
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


def webhook_latency(origin: OriginRepo, url: str, work: Path, charts: ChartSource) -> list[float]:
    secret = b"bench-secret"
    syncer = syncer_for("west", url, work, charts)
    controller = Controller(syncer, interval=3600)
    server = Server(
        App(
            controller,
            WebhookSecrets(github=secret),
            followed_ref="refs/heads/main",
            stale_after=600,
        ),
        "127.0.0.1:0",
    )
    server.start()
    controller.start()
    try:
        deadline = time.monotonic() + 60
        while controller.passes < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        latencies = []
        for n in range(5):
            i = 2 * n + 1  # west's Workspaces
            origin.write(path_of(i), workspace(i, 1024 * (n + 1)))
            commit = origin.commit(f"webhook {n}")
            body = json.dumps({"ref": "refs/heads/main", "after": commit}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{server.port}/webhook/github",
                data=body,
                method="POST",
                headers={
                    "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": f"bench-{n}",
                    "X-Hub-Signature-256": github_signature(secret, body),
                },
            )
            start = time.perf_counter()
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                assert response.status == 202
            while syncer.commit != commit:
                assert time.perf_counter() - start < 10
                time.sleep(0.001)
            latencies.append(time.perf_counter() - start)
        return latencies
    finally:
        controller.stop(10)
        server.stop()


if __name__ == "__main__":
    main()
