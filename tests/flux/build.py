"""Builds Flux's helm-controller and source-controller from the Go module beside this file.

For the side-by-side benchmark (bench/flux.py) only: the same releases of the same charts,
reconciled by Flux on the same local control plane. The binaries land in
``.modelsync/flux/bin/`` with a stamp of what they were built from (go.mod, go.sum, the Go
version, the flags), like tests/controlplane/build.py; a matching stamp means no build.

    python -m tests.flux.build      # prints the binaries' directory

Only go.mod/go.sum are ours: `go mod tidy` cannot run here, because the controllers' own
tests import modules the proxy does not serve; `go get` wrote the sums the build needs.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.controlplane.build import BuildError, go_command

MODULE = Path(__file__).resolve().parent
REPO = MODULE.parents[1]
BIN_DIR = REPO / ".modelsync" / "flux" / "bin"
CONTROLLERS = {
    "helm-controller": "github.com/fluxcd/helm-controller",
    "source-controller": "github.com/fluxcd/source-controller",
}
FLAGS = ["-trimpath", "-mod=readonly", "-ldflags", "-s -w"]


def _env() -> dict[str, str]:
    return os.environ | {"GOTOOLCHAIN": "local", "GOFLAGS": ""}


def version(module: str) -> str:
    """The version go.mod requires of a Flux module, e.g. ``v1.6.4``."""
    text = (MODULE / "go.mod").read_text()
    found = re.search(rf"^\s*{re.escape(module)} (v\S+)", text, re.M)
    if found is None:
        raise BuildError(f"tests/flux/go.mod requires no {module}")
    return found.group(1)


def module_dir(module: str) -> Path:
    """Where the Go module cache holds ``module`` at the required version (downloaded first)."""
    done = subprocess.run(
        [go_command(), "mod", "download", "-json", f"{module}@{version(module)}"],
        cwd=MODULE,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"go mod download {module}: {done.stdout}{done.stderr}")
    return Path(json.loads(done.stdout)["Dir"])


def crds() -> list[Path]:
    """Flux's CustomResourceDefinitions, as both controllers' modules ship them."""
    return sorted(
        path
        for module in CONTROLLERS.values()
        for path in (module_dir(module) / "config" / "crd" / "bases").glob("*.yaml")
    )


def _stamp(go: str) -> str:
    digest = hashlib.sha256()
    digest.update(subprocess.run([go, "version"], capture_output=True, check=True).stdout)
    digest.update(" ".join(FLAGS).encode())
    for name in ("go.mod", "go.sum"):
        digest.update((MODULE / name).read_bytes())
    return digest.hexdigest()


def ensure_binaries(*, log: bool = True) -> Path:
    """The directory holding both controllers, built first when missing or stale."""
    go = go_command()
    stamp = _stamp(go)
    stamp_file = BIN_DIR / "flux.stamp"
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    with (BIN_DIR / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = all((BIN_DIR / name).exists() for name in CONTROLLERS)
        if built and stamp_file.exists() and stamp_file.read_text() == stamp:
            return BIN_DIR
        started = time.monotonic()
        if log:
            print("building Flux's controllers (tests/flux) ...", file=sys.stderr)
        command = [go, "build", *FLAGS, "-o", f"{BIN_DIR}/", *CONTROLLERS.values()]
        done = subprocess.run(command, cwd=MODULE, env=_env(), check=False)
        if done.returncode != 0:
            raise BuildError(f"`{' '.join(command)}` failed (exit {done.returncode})")
        stamp_file.write_text(stamp)
        if log:
            print(f"built {BIN_DIR} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return BIN_DIR


if __name__ == "__main__":
    try:
        print(ensure_binaries())
    except BuildError as e:
        sys.exit(f"error: {e}")
