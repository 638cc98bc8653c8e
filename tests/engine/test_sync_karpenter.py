"""Auto-provisioned pools through a whole hydrate pass: a real git daemon in, the cluster's
Karpenter NodePool and NodeClass written beside the rendered releases, and the release on
that pool rendered by the real chart with karpenter.sh/do-not-disrupt on its pods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.adapters.bundled import Bundle, load_bundle
from controller.adapters.charts import ChartSource
from controller.adapters.gitsource import GitRef, GitSource
from controller.adapters.hydrate import KARPENTER_DIR, HydrateTarget
from controller.engine.sync import Syncer
from tests.support.gitserver import GitDaemon, OriginRepo

CLUSTER = """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {name: edge}
spec:
  nodePools:
    - {name: l4, gpu: L4, gpusPerNode: 1, nodes: 2}
    - name: burst
      gpu: A100-80GB
      gpusPerNode: 1
      maxNodes: 3
      instanceType: Standard_NC24ads_A100_v4
      labels: {example.com/pool: burst}
      taints: [{key: burst, value: "yes", effect: NoSchedule}]
      autoProvision: {provider: karpenter, consolidateAfter: 15m}
"""

ON_BURST = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: phi
  annotations: {modelsync.dev/pool: burst}
resource: {}
inference:
  preset: {name: phi-3.5-mini-instruct}
tolerations: [{key: burst, operator: Exists}]
"""


class World:
    def __init__(self, origin: OriginRepo, daemon: GitDaemon, tmp: Path, bundle: Bundle) -> None:
        self.origin = origin
        self.out = tmp / "out"
        origin.write("clusters/edge/cluster.yaml", CLUSTER)
        origin.write("clusters/edge/phi.yaml", ON_BURST)
        origin.commit("initial")
        charts = ChartSource(bundle.charts_dir)
        self.syncer = Syncer(
            source=GitSource(daemon.url(origin.name), GitRef(branch="main"), tmp / "cache"),
            target=HydrateTarget(self.out, charts, "edge"),
            schemas=bundle.schemas,
            catalog=bundle.catalog,
            charts=charts,
            cluster="edge",
        )

    @property
    def karpenter(self) -> Path:
        return self.out / "edge" / KARPENTER_DIR

    def manifest(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load((self.karpenter / name).read_text())
        return data

    def sync(self) -> None:
        result = self.syncer.run_pass(full=True)
        assert result.ok, (result.error, result.results)


@pytest.fixture
def world(git_origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path) -> World:
    return World(git_origin, git_daemon, tmp_path, load_bundle())


def test_a_pass_writes_the_nodepool_and_nodeclass_beside_the_releases(world: World) -> None:
    world.sync()
    assert sorted(p.name for p in world.karpenter.iterdir()) == [
        "aksnodeclass-burst.yaml",
        "nodepool-burst.yaml",
    ]
    nodepool = world.manifest("nodepool-burst.yaml")
    assert nodepool["kind"] == "NodePool"
    assert nodepool["spec"]["limits"]["nvidia.com/gpu"] == "3"
    assert nodepool["spec"]["disruption"]["consolidateAfter"] == "15m"
    assert world.manifest("aksnodeclass-burst.yaml")["kind"] == "AKSNodeClass"


def test_the_release_on_the_pool_runs_pods_karpenter_will_not_disrupt(world: World) -> None:
    world.sync()
    objects = list(yaml.safe_load_all((world.out / "edge" / "default" / "phi.yaml").read_text()))
    [deployment] = [o for o in objects if o and o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"]["karpenter.sh/do-not-disrupt"] == "true"
    # What the NodePool gives its nodes is what the pods ask for.
    nodepool = world.manifest("nodepool-burst.yaml")["spec"]["template"]
    assert pod["spec"]["nodeSelector"].items() <= nodepool["metadata"]["labels"].items()
    tolerated = {(t.get("key"), t.get("effect", "")) for t in pod["spec"]["tolerations"]}
    for taint in nodepool["spec"]["taints"]:
        assert (taint["key"], taint["effect"]) in tolerated or (taint["key"], "") in tolerated
    # and a node of the NodePool's one instance type has the GPUs the server asks for.
    [instance] = [
        r["values"][0]
        for r in nodepool["spec"]["requirements"]
        if r["key"] == "node.kubernetes.io/instance-type"
    ]
    gpus = int(pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"])
    assert 0 < gpus <= load_bundle().catalog.instance_types[instance].gpu_count


def test_files_change_only_with_cluster_yaml_and_go_with_the_pool(world: World) -> None:
    world.sync()
    path = world.karpenter / "nodepool-burst.yaml"
    before = path.stat().st_mtime_ns
    world.origin.write("clusters/edge/extra.yaml", ON_BURST.replace("name: phi", "name: phi2"))
    world.origin.commit("another Workspace")
    world.sync()
    assert path.stat().st_mtime_ns == before
    world.origin.write("clusters/edge/cluster.yaml", CLUSTER.replace("15m", "45m"))
    world.origin.commit("slower consolidation")
    world.sync()
    assert world.manifest("nodepool-burst.yaml")["spec"]["disruption"]["consolidateAfter"] == "45m"
    world.origin.remove("clusters/edge/phi.yaml")
    world.origin.remove("clusters/edge/extra.yaml")
    fixed = CLUSTER.split("    - name: burst", maxsplit=1)[0]
    world.origin.write("clusters/edge/cluster.yaml", fixed)
    world.origin.commit("no more burst pool")
    world.sync()
    assert not world.karpenter.exists()
