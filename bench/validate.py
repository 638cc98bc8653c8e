"""Benchmark: `modelsync validate` over a generated repo of 1,000 Workspaces in 3 clusters.

Prints one JSON object. Baseline in the same run: ``yaml.safe_load`` plus a bare
``jsonschema`` check of every file, the least any schema validator must do; ``ratio`` is
modelsync's full validation (positions, semantic checks, sizing, capacity) over it.
The command itself, start-up included, is measured by bench/cli.py.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from controller.adapters.bundled import load_bundle  # noqa: E402
from controller.adapters.files import read_paths  # noqa: E402
from controller.core.validation import validate_files  # noqa: E402

WORKSPACES = 1000
CLUSTERS = ("east", "west", "lab")
PRESETS = (
    "phi-3.5-mini-instruct",
    "qwen2.5-coder-7b-instruct",
    "mistral-7b-instruct",
    "phi-4-mini-instruct",
    "gemma-3-4b-instruct",
)

CLUSTER = """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {{name: {name}}}
spec:
  namespaces: [default, team-a, team-b, team-c]
  nodePools:
    - name: a100
      gpu: A100-80GB
      gpusPerNode: 8
      maxNodes: 100
      instanceType: Standard_ND96amsr_A100_v4
      labels: {{agentpool: a100}}
"""
WORKSPACE = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: {name}
  namespace: {namespace}
  labels: {{team: {namespace}}}
  annotations:
    modelsync.dev/max-model-len: "{length}"
resource:
  instanceType: Standard_ND96amsr_A100_v4
  labelSelector:
    matchLabels:
      apps: {name}
inference:
  preset:
    name: {preset}
    presetOptions:
      modelAccessSecret: hf-token
  config:
    vllm:
      max-num-seqs: 32
tolerations:
  - {{key: sku, operator: Equal, value: gpu, effect: NoSchedule}}
"""


def generate(root: Path) -> None:
    rng = random.Random(7)
    for cluster in CLUSTERS:
        (root / "clusters" / cluster).mkdir(parents=True)
        (root / "clusters" / cluster / "cluster.yaml").write_text(CLUSTER.format(name=cluster))
    for i in range(WORKSPACES):
        cluster = CLUSTERS[i % len(CLUSTERS)]
        text = WORKSPACE.format(
            name=f"ws-{i:04d}",
            namespace=rng.choice(("team-a", "team-b")),
            preset=rng.choice(PRESETS),
            length=rng.choice((4096, 8192, 16384)),
        )
        (root / "clusters" / cluster / f"ws-{i:04d}.yaml").write_text(text)


def best_of(runs: int, fn: object) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root)
        bundle = load_bundle()
        files = read_paths([root / "clusters"], root)

        def modelsync() -> None:
            report = validate_files(files, schemas=bundle.schemas, catalog=bundle.catalog)
            assert report.errors == 0, report.findings[:3]

        schema = json.loads((ROOT / "schemas/workspace.schema.json").read_text())
        validator = jsonschema.Draft202012Validator(schema)

        def baseline() -> None:
            for source in files:
                if source.path.endswith("cluster.yaml"):
                    continue
                body = yaml.load(source.data or b"", Loader=yaml.CSafeLoader)
                assert validator.is_valid(body)

        read = best_of(5, lambda: read_paths([root / "clusters"], root))
        ours = best_of(5, modelsync)
        base = best_of(5, baseline)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {
        "benchmark": "validate",
        "files": len(files),
        "workspaces": WORKSPACES,
        "clusters": len(CLUSTERS),
        "read_seconds": round(read, 4),
        "validate_seconds": round(ours, 4),
        "files_per_second": round(len(files) / ours),
        "baseline": "yaml.CSafeLoader + jsonschema Draft202012 is_valid per file",
        "baseline_seconds": round(base, 4),
        "ratio_vs_baseline": round(ours / base, 2),
        "peak_rss_bytes": rss,
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
