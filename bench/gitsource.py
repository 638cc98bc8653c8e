"""Benchmark the Git source (pygit2) against the git CLI on the same loopback repository.

Builds a clusters repo of 1,000 Workspace files over clusters/a and clusters/b, serves it
with ``git daemon`` on 127.0.0.1, and measures in one run: the first clone (GitSource.fetch
into an empty cache vs ``git clone --bare``, and vs the like-for-like shallow single-branch
clone), a fetch after one commit that touches one file plus the list of changed paths
(``fetch`` + ``changed_paths`` vs ``git fetch`` + ``git diff --name-only``), a fetch with
nothing new, and reading one cluster's tree. Prints one JSON object; times are medians in
milliseconds, ``ratio`` is pygit2 / git (below 1 means pygit2 is faster).

Run: ``.venv/bin/python bench/gitsource.py [--reps N]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ sits at the repo root

import pygit2

from controller.adapters.gitsource import GitRef, GitSource
from tests.support.gitserver import GitDaemon, OriginRepo, git

WORKSPACES = 1000
CLUSTERS = ("a", "b")
PRESETS = (
    ("phi-3.5-mini-instruct", "Standard_NC24ads_A100_v4"),
    ("qwen2.5-coder-7b-instruct", "Standard_NC48ads_A100_v4"),
    ("llama-3.1-8b-instruct", "Standard_NC96ads_A100_v4"),
    ("mistral-7b-instruct", "Standard_NV36ads_A10_v5"),
)
WORKSPACE = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: {name}
  namespace: team-{team}
  labels:
    app.kubernetes.io/part-of: {team}
  annotations:
    modelsync.dev/runtime: vllm
resource:
  instanceType: {instance}
  count: {count}
  labelSelector:
    matchLabels:
      apps: {name}
inference:
  preset:
    name: {preset}
  config: ""
  adapters: []
nodeSelector:
  kubernetes.io/os: linux
tolerations:
  - key: nvidia.com/gpu
    operator: Exists
    effect: NoSchedule
"""


def workspace(index: int, revision: int = 0) -> str:
    preset, instance = PRESETS[index % len(PRESETS)]
    name = f"ws-{index:04d}" + (f"-r{revision}" if revision else "")
    return WORKSPACE.format(
        name=name, team=index % 17, instance=instance, count=1 + index % 3, preset=preset
    )


def build_origin(root: Path) -> OriginRepo:
    """1,000 Workspaces added in ten commits (some history behind the tip)."""
    origin = OriginRepo(root / "served" / "clusters.git", root / "work")
    for cluster in CLUSTERS:
        origin.write(f"clusters/{cluster}/cluster.yaml", f"kind: Cluster\nname: {cluster}\n")
    per_commit = WORKSPACES // 10
    for batch in range(10):
        for index in range(batch * per_commit, (batch + 1) * per_commit):
            cluster = CLUSTERS[index % len(CLUSTERS)]
            origin.write(
                f"clusters/{cluster}/team-{index % 17}/ws-{index:04d}.yaml", workspace(index)
            )
        origin.commit(f"add workspaces, batch {batch}", push=False)
    origin.push()
    return origin


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def median(samples: list[float]) -> float:
    return round(statistics.median(samples), 2)


def versus(ours: list[float], theirs: list[float]) -> dict[str, float]:
    """One git baseline: its median and pygit2's median divided by it."""
    return {
        "ms": median(theirs),
        "ratio": round(statistics.median(ours) / statistics.median(theirs), 3),
    }


# git 2.39 speaks protocol v2 by default and libgit2 1.9 speaks v0; on loopback v2 costs
# git about 50 ms per fetch (an extra round trip), so both are reported.
PROTOCOLS = {"default": [], "protocol_v0": ["-c", "protocol.version=0"]}
SHALLOW = ["--depth=1", "--single-branch", "--branch=main"]


def bench_clone(url: str, scratch: Path, reps: int) -> dict[str, object]:
    """GitSource.fetch into an empty cache vs ``git clone --bare`` (full and shallow)."""
    baselines: dict[str, list[str]] = {
        "bare": [],
        "bare_protocol_v0": PROTOCOLS["protocol_v0"],
        "bare_shallow_single_branch_protocol_v0": [*PROTOCOLS["protocol_v0"], *SHALLOW],
    }
    ours: list[float] = []
    theirs: dict[str, list[float]] = {name: [] for name in baselines}
    for rep in range(reps):
        ours.append(timed(GitSource(url, GitRef(branch="main"), scratch / f"pygit2-{rep}").fetch))
        for name, options in baselines.items():
            config, flags = options[:2], options[2:]
            target = str(scratch / f"{name}-{rep}")
            theirs[name].append(
                timed(partial(git, *config, "clone", "-q", "--bare", *flags, url, target))
            )
    return {"pygit2_ms": median(ours), "git": {n: versus(ours, t) for n, t in theirs.items()}}


def bench_fetch(origin: OriginRepo, url: str, scratch: Path, reps: int) -> dict[str, object]:
    """After one commit touching one file: fetch + changed paths; then a fetch of nothing."""
    source = GitSource(url, GitRef(branch="main"), scratch / "pygit2-cache")
    old = source.fetch().commit
    clones = {name: scratch / f"git-{name}.git" for name in PROTOCOLS}
    for clone in clones.values():
        git("clone", "-q", "--bare", url, str(clone))

    def git_fetch(name: str) -> None:
        config = PROTOCOLS[name]
        git(
            *config,
            "-C",
            str(clones[name]),
            "fetch",
            "-q",
            "origin",
            "+refs/heads/main:refs/heads/main",
        )

    fetch_ms: list[float] = []
    paths_ms: list[float] = []
    noop_ms: list[float] = []
    git_ms: dict[str, dict[str, list[float]]] = {
        name: {"fetch": [], "diff": [], "noop": []} for name in PROTOCOLS
    }
    for rep in range(reps):
        index = (rep * 37) % WORKSPACES
        cluster = CLUSTERS[index % len(CLUSTERS)]
        path = f"clusters/{cluster}/team-{index % 17}/ws-{index:04d}.yaml"
        origin.write(path, workspace(index, rep + 1))
        new = origin.commit(f"edit ws-{index:04d}")
        fetch_ms.append(timed(source.fetch))
        paths_ms.append(timed(partial(source.changed_paths, old, new)))
        assert source.changed_paths(old, new) == frozenset({path})
        for name, samples in git_ms.items():
            samples["fetch"].append(timed(partial(git_fetch, name)))
            diff = partial(git, "-C", str(clones[name]), "diff", "--name-only", old, new)
            samples["diff"].append(timed(diff))
            assert diff() == path
        noop_ms.append(timed(source.fetch))
        for name, samples in git_ms.items():
            samples["noop"].append(timed(partial(git_fetch, name)))
        old = new
    ours = [f + p for f, p in zip(fetch_ms, paths_ms, strict=True)]
    one_change: dict[str, object] = {
        "pygit2_ms": median(ours),
        "pygit2_fetch_ms": median(fetch_ms),
        "pygit2_changed_paths_ms": median(paths_ms),
        "git": {
            name: {
                **versus(ours, [f + d for f, d in zip(s["fetch"], s["diff"], strict=True)]),
                "fetch_ms": median(s["fetch"]),
                "diff_ms": median(s["diff"]),
            }
            for name, s in git_ms.items()
        },
    }
    no_change = {
        "pygit2_ms": median(noop_ms),
        "git": {name: versus(noop_ms, s["noop"]) for name, s in git_ms.items()},
    }
    read_ms = [timed(partial(source.read_tree, old, "clusters/a")) for _ in range(reps)]
    return {
        "one_change": one_change,
        "no_change": no_change,
        "read_tree_one_cluster_ms": median(read_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7, help="repetitions per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gitsource-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        origin = build_origin(root)
        built_s = time.perf_counter() - started
        with GitDaemon(root / "served") as daemon:
            url = daemon.url(origin.name)
            clone = bench_clone(url, root / "clones", args.reps)
            fetch = bench_fetch(origin, url, root / "fetch", args.reps)
        pack_kib = (
            sum(p.stat().st_size for p in (root / "clones" / "bare-0").rglob("*.pack")) // 1024
        )
    result = {
        "benchmark": "gitsource",
        "repo": {
            "workspaces": WORKSPACES,
            "clusters": len(CLUSTERS),
            "commits": 10,
            "pack_kib": pack_kib,
            "build_s": round(built_s, 2),
        },
        "reps": args.reps,
        "clone": clone,
        "fetch_one_change": fetch["one_change"],
        "fetch_no_change": fetch["no_change"],
        "read_tree_one_cluster_ms": fetch["read_tree_one_cluster_ms"],
        "versions": {
            "python": platform.python_version(),
            "pygit2": metadata.version("pygit2"),
            "libgit2": pygit2.LIBGIT2_VERSION,
            "git": subprocess.run(
                ["git", "--version"], capture_output=True, text=True, check=True
            ).stdout.split()[-1],
        },
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
