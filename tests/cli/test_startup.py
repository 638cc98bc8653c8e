"""What each command imports: the heavy clients load only for the commands that use them.

`modelsync --version`, `validate` and a hydrate `sync` run in CI on every pull request;
the kubernetes client alone takes about a second to import, and none of them talks to a
cluster. Timings live in bench/cli.py; this holds the line that keeps them low.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.tinymodel import REV, snapshot

REPO = Path(__file__).resolve().parents[2]

#: Imported by the CLI only where a command needs it.
HEAVY = (
    "kubernetes", "helm_python", "werkzeug", "pygit2", "rich", "prometheus_client", "requests",
)  # fmt: skip

# argv: the heavy module names joined by commas, then the CLI's arguments.
_PROBE = """
import json, sys
from controller.cli.main import main
heavy, args = sys.argv[1].split(","), sys.argv[2:]
try:
    code = main(args)
except SystemExit as e:
    code = e.code
found = sorted(m for m in heavy if m in sys.modules)
print(json.dumps({"code": code, "heavy": found}), file=sys.stderr)
"""


def loaded(*args: str, cwd: Path = REPO) -> tuple[int, set[str]]:
    """Run the CLI in a fresh interpreter; its exit code and the heavy modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(HEAVY), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["heavy"])


def test_version_and_help_import_none_of_them() -> None:
    assert loaded("--version") == (0, set())
    assert loaded("--help") == (0, set())
    assert loaded("suspend", "--help") == (0, set())  # the cluster commands import lazily


def test_validate_imports_none_of_them() -> None:
    code, heavy = loaded("validate", "clusters")
    assert code == 0
    assert heavy == set()


@pytest.mark.parametrize("extra", [[], ["--no-manifests"]])
def test_diff_needs_git_and_the_helm_sdk_but_no_cluster_client(extra: list[str]) -> None:
    code, heavy = loaded("diff", "--base", "HEAD", "--head", "HEAD", *extra)
    assert code == 0
    assert heavy <= {"pygit2", "helm_python"}


def test_a_hydrate_sync_never_loads_the_kubernetes_client(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, heavy = loaded(
        "sync", "--repo", str(REPO), "--cluster", "dev", "--out", str(out),
        "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert code == 0
    assert "kubernetes" not in heavy
    assert "werkzeug" not in heavy


def test_presets_add_loads_the_hub_client_only_to_ask_the_hub(tmp_path: Path) -> None:
    """--from reads a directory: no HTTP client; only a model missing from the cache needs it."""
    snapshot(tmp_path / REV)
    args = ("presets", "add", "acme/Tiny-Qwen", "--out", str(tmp_path / "out"))
    assert loaded(*args, "--from", str(tmp_path / REV)) == (0, set())
    code, heavy = loaded(*args, "--force", "--token-file", str(tmp_path / "no-such-file"))
    assert (code, heavy) == (2, {"requests"})
