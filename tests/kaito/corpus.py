"""KAITO's own Workspaces and rejection cases, as committed test data, and how to check them.

``examples/``: every example Workspace of kaito-project/kaito (examples/ and website/docs/
at the commit each file's header names) that conforms to KAITO's CRD (checked strictly
against config/crd/bases/kaito.sh_workspaces.yaml when the corpus was taken) and names a
concrete instance type, copied verbatim. ``rejected/``: the cases KAITO's webhook tests
(api/v1beta1 and api/v1alpha1 ``*_validation_test.go``) reject, written out as Workspace
files, each with the test function and case name it stands for.

Each file is validated alone, in a cluster whose pools are exactly the instance types it
names, built from modelsync's own instance-type table (a type the table lacks gets no pool,
and the Workspace says so), so the corpus needs no network and no cluster.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from controller.adapters.bundled import Bundle
from controller.core.documents import SourceFile
from controller.core.validation import Report, validate_files

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE / "examples"
REJECTED = HERE / "rejected.yaml"
_INSTANCE_TYPE = re.compile(r"^\s*instanceType:\s*['\"]?([A-Za-z0-9_.-]+)", re.M)


def files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.yaml"))


def cluster_for(text: str, bundle: Bundle, *, access_secret: bool = True) -> str:
    """A cluster file with one roomy pool per instance type ``text`` names; with
    ``access_secret``, a default HF token Secret for gated models (what docs/kaito.md tells a
    platform team to set, since KAITO files name none)."""
    types = sorted(set(_INSTANCE_TYPE.findall(text))) or ["Standard_NC24ads_A100_v4"]
    pools = []
    for i, name in enumerate(types):
        known = bundle.catalog.instance_type(name)
        if known is None:
            continue
        pools.append(
            {
                "name": f"pool-{i}",
                "gpu": known.gpu,
                "gpusPerNode": known.gpu_count,
                # Room for KAITO's largest example, a 6-node multi-node group.
                "nodes": 8,
                "instanceType": name,
                "labels": {"pool": f"pool-{i}"},
            }
        )
    if not pools:  # no type it names is known: a pool of another type, so it says so
        pools.append(
            {
                "name": "a100",
                "gpu": "A100-80GB",
                "gpusPerNode": 1,
                "nodes": 4,
                "instanceType": "Standard_NC24ads_A100_v4",
            }
        )
    return yaml.safe_dump(
        {
            "apiVersion": "modelsync.dev/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": "kaito"},
            "spec": {
                "namespaces": ["default"],
                "defaults": {"modelAccessSecret": "hf-token"} if access_secret else {},
                "nodePools": pools,
            },
        }
    )


def validate_one(path: Path, bundle: Bundle) -> Report:
    """An example alone in a cluster that has its instance types and a default HF token."""
    return validate_text(path.name, path.read_text(), bundle, access_secret=True)


def validate_text(name: str, text: str, bundle: Bundle, *, access_secret: bool = False) -> Report:
    cluster = cluster_for(text, bundle, access_secret=access_secret)
    return validate_files(
        [
            SourceFile("clusters/kaito/cluster.yaml", data=cluster.encode()),
            SourceFile(f"clusters/kaito/{name}", data=text.encode()),
        ],
        schemas=bundle.schemas,
        catalog=bundle.catalog,
    )
