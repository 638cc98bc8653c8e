"""Builds the local control plane's binary from the Go module beside this file, once.

Test infrastructure (tests/controlplane): ``cluster.py`` and the pytest fixture call
``ensure_binary()``. The binary lands in ``.modelsync/controlplane/bin/`` (outside Git) with
a stamp of what it was built from: go.mod, go.sum, every Go source, the Go version and the
flags. A matching stamp means no build at all; Go's own build cache (GOCACHE) makes a
rebuild after a small edit take seconds. The build is reproducible: ``-trimpath``, module
versions pinned by go.mod/go.sum (``-mod=readonly``: a missing sum fails rather than
resolving anew), and the Kubernetes version stamped in as upstream's release build does.

    python -m tests.controlplane.build      # prints the binary's path
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

MODULE = Path(__file__).resolve().parent
REPO = MODULE.parents[1]
BIN_DIR = REPO / ".modelsync" / "controlplane" / "bin"
BINARY = BIN_DIR / "controlplane"
#: The binary's links, one per component; main.go dispatches on the name it was called by.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "fake-kubelet")


class BuildError(Exception):
    """Go is missing or the build failed; the message says which."""


def kubernetes_version() -> str:
    """The k8s.io/kubernetes version go.mod pins, e.g. ``v1.36.3``."""
    found = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", (MODULE / "go.mod").read_text(), re.M)
    if found is None:
        raise BuildError("tests/controlplane/go.mod requires no k8s.io/kubernetes")
    return found.group(1)


def go_command() -> str:
    """`$GO`, else `go` on PATH, else the usual install location."""
    for candidate in (os.environ.get("GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise BuildError("no Go toolchain: install Go 1.26 or set GO=/path/to/go")


def build_flags() -> list[str]:
    version = kubernetes_version()
    major, minor = version.removeprefix("v").split(".")[:2]
    stamp = {
        "gitVersion": version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        # A fixed date keeps the binary the same from one build to the next.
        "buildDate": "1970-01-01T00:00:00Z",
    }
    # Helm and the API server's version checks read these; without them the server calls
    # itself v0.0.0 and charts with a kubeVersion constraint refuse to install.
    ldflags = " ".join(f"-X k8s.io/component-base/version.{k}={v}" for k, v in stamp.items())
    # -s -w: no symbol table or DWARF; the binary is half the size and links faster.
    return ["-trimpath", "-mod=readonly", "-ldflags", f"-s -w {ldflags}"]


def source_stamp(go: str) -> str:
    """A digest of everything the binary is made from."""
    digest = hashlib.sha256()
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    digest.update(version.encode())
    digest.update(" ".join(build_flags()).encode())
    files = [MODULE / "go.mod", MODULE / "go.sum", *sorted(MODULE.rglob("*.go"))]
    for path in files:
        digest.update(str(path.relative_to(MODULE)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def ensure_binary(*, log: bool = True) -> Path:
    """The built binary, built first when missing or made from other sources."""
    go = go_command()
    stamp = source_stamp(go)
    stamp_file = BINARY.with_suffix(".stamp")
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    # Two sessions on one checkout (make cluster and pytest) build once, not twice at once.
    with (BIN_DIR / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if BINARY.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
            _link_components()
            return BINARY
        started = time.monotonic()
        if log:
            print("building the local control plane (tests/controlplane) ...", file=sys.stderr)
        partial = BINARY.with_suffix(".partial")
        # GOTOOLCHAIN=local: never download another Go; GOFLAGS from the caller could
        # otherwise switch off -mod=readonly.
        env = os.environ | {"GOTOOLCHAIN": "local", "GOFLAGS": ""}
        command = [go, "build", *build_flags(), "-o", str(partial), "./cmd/controlplane"]
        done = subprocess.run(command, cwd=MODULE, env=env, check=False)
        if done.returncode != 0:
            raise BuildError(f"`{' '.join(command)}` failed (exit {done.returncode})")
        partial.replace(BINARY)
        stamp_file.write_text(stamp)
        _link_components()
        if log:
            print(f"built {BINARY} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return BINARY


def _link_components() -> None:
    for component in COMPONENTS:
        link = BIN_DIR / component
        if not link.is_symlink():
            link.symlink_to(BINARY.name)


if __name__ == "__main__":
    try:
        print(ensure_binary())
    except BuildError as e:
        sys.exit(f"error: {e}")
