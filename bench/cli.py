"""Benchmark: the CLI as CI runs it, start-up included, against bare processes.

Prints one JSON object with two ratios, each against a baseline run in the same session,
interleaved with it so that load on the machine hits both alike:

- ``modelsync --version`` against ``python -c "import yaml, jsonschema"`` (goal <= 2);
- ``modelsync validate`` of 1,000 Workspaces in 3 clusters against a process that only
  parses each file with ``yaml.CSafeLoader`` and checks it against the Workspace schema with
  ``jsonschema`` (goal <= 1.5).

Run: ``.venv/bin/python bench/cli.py [--runs N]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.validate import CLUSTERS, WORKSPACES, generate  # noqa: E402

BARE_VALIDATE = """
import json, sys
from pathlib import Path
import jsonschema, yaml
schema = json.loads(Path(sys.argv[1]).read_text())
validator = jsonschema.Draft202012Validator(schema)
for path in sorted(Path(sys.argv[2]).rglob("*.yaml")):
    if path.name != "cluster.yaml":
        assert validator.is_valid(yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)), path
"""


def seconds(argv: Sequence[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]!r}")
    return elapsed


def compare(ours: Sequence[str], baseline: Sequence[str], cwd: Path, runs: int) -> dict[str, float]:
    """Median wall time of each, runs interleaved (one warm-up of each first)."""
    seconds(ours, cwd), seconds(baseline, cwd)
    a, b = [], []
    for _ in range(runs):
        a.append(seconds(ours, cwd))
        b.append(seconds(baseline, cwd))
    return {
        "seconds": round(statistics.median(a), 3),
        "baseline_seconds": round(statistics.median(b), 3),
        "ratio": round(statistics.median(a) / statistics.median(b), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    python = sys.executable
    modelsync = [python, "-m", "controller"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root)
        version = compare(
            [*modelsync, "--version"], [python, "-c", "import yaml, jsonschema"], root, runs
        )
        validate = compare(
            [*modelsync, "validate", "clusters"],
            [python, "-c", BARE_VALIDATE, str(ROOT / "schemas/workspace.schema.json"), "clusters"],
            root,
            runs,
        )
    result = {
        "benchmark": "cli",
        "runs": runs,
        "version": version | {"baseline": 'python -c "import yaml, jsonschema"', "goal_ratio": 2.0},
        "validate": validate
        | {
            "workspaces": WORKSPACES,
            "clusters": len(CLUSTERS),
            "baseline": "a process: CSafeLoader + jsonschema Draft202012 is_valid per file",
            "goal_ratio": 1.5,
        },
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
