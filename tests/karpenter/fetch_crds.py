"""Karpenter's CRDs, and the LeaderWorkerSet CRD multi-node serving renders, from the Go
modules that ship them, through the Go module proxy.

The NodePool, NodeClass and LeaderWorkerSet schemas are too large to keep in this
repository (AKSNodeClass alone is 97 kB), so the tests read them from the module zips the
Go module proxy serves, pinned by version and by the ``h1:`` hash ``go.sum`` would record
for them, and cache them under ``.modelsync/karpenter-crds/``. A zip already in Go's own
module cache is used as is; otherwise it comes from ``$GOPROXY`` (the proxy's plain HTTP
protocol, so neither Go nor a Go toolchain of the module's minimum version is needed).
``make karpenter-crds`` runs this.

    python -m tests.karpenter.fetch_crds        # prints the cache directory
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".modelsync" / "karpenter-crds"


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    h1: str  # go.sum's hash of the module zip (golang.org/x/mod/sumdb/dirhash Hash1)
    crds: tuple[str, ...]  # files under the module root

    @property
    def directory(self) -> Path:
        return CACHE / f"{self.path.replace('/', '_')}@{self.version}"


# Karpenter core v1.15.0 is the newest core the proxy serves; the providers are the newest
# releases it serves (Azure's v1.14.2 builds on core v1.14.0, AWS's v1.15.2 on v1.15.1), and
# each ships the NodePool CRD its chart installs beside its own NodeClass.
CORE = Module(
    "sigs.k8s.io/karpenter",
    "v1.15.0",
    "h1:5SEptlAvsOZbNg4qg8OSdF1qi6BEZHZLA020nXY7jGw=",
    ("pkg/apis/crds/karpenter.sh_nodepools.yaml",),
)
AZURE = Module(
    "github.com/Azure/karpenter-provider-azure",
    "v1.14.2",
    "h1:ahAvrgrlHNbPJxPiusamAES7cGkGOJYse2mGlRA2Hao=",
    (
        "pkg/apis/crds/karpenter.azure.com_aksnodeclasses.yaml",
        "pkg/apis/crds/karpenter.sh_nodepools.yaml",
    ),
)
AWS = Module(
    "github.com/aws/karpenter-provider-aws",
    "v1.15.2",
    "h1:RGw64PB2ROUHZIUhBqjO78l3zJ9YctnWeullrr4cxYI=",
    (
        "pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml",
        "pkg/apis/crds/karpenter.sh_nodepools.yaml",
    ),
)
# The LeaderWorkerSet CRD (leaderworkerset.x-k8s.io/v1) of LWS v0.8.0, what the
# workspace-inference chart renders for a model larger than one node.
LWS = Module(
    "sigs.k8s.io/lws",
    "v0.8.0",
    "h1:DdhJ8QabwTfWgbgaHH2gdf8twliioHaoSfmDXRYEVU0=",
    ("config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml",),
)
MODULES = (CORE, AZURE, AWS, LWS)


class FetchError(Exception):
    """A module zip could not be had, or was not the one go.sum pins."""


def escape(path: str) -> str:
    """The module proxy's case encoding: each capital letter becomes ``!`` + lower case."""
    return "".join(f"!{c.lower()}" if c.isupper() else c for c in path)


def hash1(archive: bytes) -> str:
    """Go's dirhash Hash1 of a module zip: what go.sum records after ``h1:``."""
    lines = []
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        for name in sorted(z.namelist()):
            lines.append(f"{hashlib.sha256(z.read(name)).hexdigest()}  {name}\n")
    digest = hashlib.sha256("".join(lines).encode()).digest()
    return "h1:" + base64.b64encode(digest).decode()


def _proxy() -> str:
    """The first proxy of ``$GOPROXY``, else of the Go toolchain's own setting (its default
    when nobody set one), so the same proxy serves these zips as serves ``go build``."""
    configured = (
        os.environ.get("GOPROXY")
        or subprocess.run(
            ["go", "env", "GOPROXY"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    for entry in configured.replace("|", ",").split(","):
        if entry.strip() and entry.strip() not in ("direct", "off"):
            return entry.strip().rstrip("/")
    raise SystemExit(f"no Go module proxy configured (GOPROXY={configured!r})")


def _module_cache() -> Path:
    explicit = os.environ.get("GOMODCACHE")
    if explicit:
        return Path(explicit)
    gopath = os.environ.get("GOPATH", "").split(os.pathsep)[0] or str(Path.home() / "go")
    return Path(gopath) / "pkg" / "mod"


def _zip(module: Module) -> bytes:
    relative = f"{escape(module.path)}/@v/{module.version}.zip"
    cached = _module_cache() / "cache" / "download" / relative
    if cached.is_file():
        return cached.read_bytes()
    url = f"{_proxy()}/{relative}"
    if not url.startswith(("https://", "http://", "file://")):
        raise FetchError(f"GOPROXY entry {url!r} is not a URL")
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            data: bytes = response.read()
    except OSError as e:
        raise FetchError(f"cannot download {module.path}@{module.version}: {e}") from e
    return data


def fetch(module: Module) -> Path:
    """The module's CRD files in the cache (fetched and checked once)."""
    target = module.directory
    if all((target / name).is_file() for name in module.crds):
        return target
    archive = _zip(module)
    found = hash1(archive)
    if found != module.h1:
        raise FetchError(f"{module.path}@{module.version}: zip hash {found} is not {module.h1}")
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    prefix = f"{module.path}@{module.version}/"
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        for name in module.crds:
            out = staging / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(prefix + name))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def fetch_all() -> Path:
    for module in MODULES:
        fetch(module)
    return CACHE


if __name__ == "__main__":
    print(fetch_all())
