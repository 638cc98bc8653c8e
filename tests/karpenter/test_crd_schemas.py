"""Every NodePool and NodeClass modelsync renders passes the schema of the CRD it targets.

The CRDs are Karpenter's own (tests/karpenter/fetch_crds.py: core and the Azure and AWS
providers, pinned by version and go.sum hash). A NodePool is checked against core's CRD and
against the one its provider's chart installs; a NodeClass against its provider's.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from controller.adapters.bundled import Bundle
from controller.adapters.files import read_paths
from controller.core.karpenter import NODE_CLASSES
from controller.core.nodepools import node_pool_manifests
from controller.core.validation import validate_files
from tests.karpenter.conftest import Validate, cluster_yaml
from tests.karpenter.crdschema import crd_kind, errors
from tests.karpenter.fetch_crds import AWS, AZURE, CORE, Module

REPO = Path(__file__).resolve().parents[2]
NODEPOOLS = "pkg/apis/crds/karpenter.sh_nodepools.yaml"
CLASS_CRDS = {
    "AKSNodeClass": (AZURE, "pkg/apis/crds/karpenter.azure.com_aksnodeclasses.yaml"),
    "EC2NodeClass": (AWS, "pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml"),
}
PROVIDER_OF = {"AKSNodeClass": AZURE, "EC2NodeClass": AWS}


def crds_for(manifests: list[dict[str, Any]], kind: str) -> list[tuple[Module, str]]:
    """The CRD files a manifest of ``kind`` must pass, in a set rendered together."""
    if kind == "NodePool":
        classes = {m["kind"] for m in manifests if m["kind"] != "NodePool"}
        return [(CORE, NODEPOOLS)] + [(PROVIDER_OF[c], NODEPOOLS) for c in sorted(classes)]
    return [CLASS_CRDS[kind]]


def schema_errors(crds: Path, manifests: list[dict[str, Any]]) -> list[str]:
    found = []
    for manifest in manifests:
        group, _, version = manifest["apiVersion"].partition("/")
        for module, name in crds_for(manifests, manifest["kind"]):
            path = crds / module.directory.name / name
            crd_group, crd_kind_name, served = crd_kind(path)
            where = f"{manifest['kind']}/{manifest['metadata']['name']} vs {module.path}"
            if (crd_group, crd_kind_name) != (group, manifest["kind"]) or version not in served:
                found.append(f"{where}: {manifest['apiVersion']} is not served ({served})")
                continue
            found += [f"{where}: {e}" for e in errors(path, version, manifest)]
    return found


def test_prod_renders_a_nodepool_and_aksnodeclass_that_pass_their_crds(
    crds: Path, bundle: Bundle
) -> None:
    report = validate_files(
        read_paths([REPO / "clusters" / "prod"], REPO),
        schemas=bundle.schemas,
        catalog=bundle.catalog,
    )
    prod = report.cluster("prod")
    assert prod is not None
    assert prod.cluster is not None
    manifests = node_pool_manifests(prod.cluster, bundle.catalog)
    assert [(m["kind"], m["metadata"]["name"]) for m in manifests] == [
        ("AKSNodeClass", "h100-nvl"),
        ("NodePool", "h100-nvl"),
    ]
    assert schema_errors(crds, manifests) == []


def _pool(instance: str, cloud: str) -> str:
    gpus = 1
    node_class = {
        "azure": "{imageFamily: AzureLinux, osDiskSizeGB: 512}",
        "aws": (
            "{role: KarpenterNodeRole-test, "
            "subnetSelectorTerms: [{tags: {karpenter.sh/discovery: test}}], "
            "securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: test}}]}"
        ),
    }[cloud]
    return f"""\
    - name: burst
      gpu: ANY
      gpusPerNode: {gpus}
      maxNodes: 3
      instanceType: {instance}
      labels: {{team.example.com/pool: burst, node-restriction.kubernetes.io/gpu: "yes"}}
      taints:
        - {{key: nvidia.com/gpu, effect: NoSchedule}}
        - {{key: dedicated, value: llm, effect: NoExecute}}
      autoProvision:
        provider: karpenter
        capacityTypes: [spot, on-demand]
        consolidateAfter: 1h30m
        expireAfter: 720h
        disruptionBudgets:
          - {{nodes: "0", schedule: "0 9 * * mon-fri", duration: 8h}}
          - {{nodes: "20%", reasons: [Empty, Drifted]}}
        nodeClass: {node_class}
"""


def generated_cases(bundle: Bundle) -> list[tuple[str, str, str]]:
    return [
        (t.name, t.cloud, t.gpu)
        for t in sorted(bundle.catalog.instance_types.values(), key=lambda t: t.name)
        if t.cloud in NODE_CLASSES
    ]


@pytest.mark.parametrize("cloud", sorted(NODE_CLASSES))
def test_generated_pools_of_every_instance_type_pass_their_crds(
    crds: Path, bundle: Bundle, cluster_of: Validate, cloud: str
) -> None:
    cases = [c for c in generated_cases(bundle) if c[1] == cloud]
    assert cases, f"no {cloud} instance types in the catalog"
    for instance, _, gpu in cases:
        count = bundle.catalog.instance_types[instance].gpu_count
        text = _pool(instance, cloud).replace("gpu: ANY", f"gpu: {gpu}")
        text = text.replace("gpusPerNode: 1", f"gpusPerNode: {count}")
        result = cluster_of(cluster_yaml(text))
        assert not any(f.is_error for f in result.findings), instance
        assert result.cluster is not None
        manifests = node_pool_manifests(result.cluster, bundle.catalog)
        assert len(manifests) == 2, instance
        assert schema_errors(crds, manifests) == [], instance


def _prod_like(bundle: Bundle, cluster_of: Validate) -> list[dict[str, Any]]:
    text = _pool("Standard_NC24ads_A100_v4", "azure").replace("gpu: ANY", "gpu: A100-80GB")
    text = text.replace("capacityTypes: [spot, on-demand]", "capacityTypes: [on-demand]")
    result = cluster_of(cluster_yaml(text))
    assert result.cluster is not None
    return node_pool_manifests(result.cluster, bundle.catalog)


def _set(manifest: Mapping[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = manifest
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


# (manifest: 0 the NodeClass, 1 the NodePool; field; a value Karpenter refuses; error text)
Broken = tuple[int, tuple[str, ...], Any, str]


@pytest.mark.parametrize(
    "broken",
    [
        (1, ("spec", "disruption", "evictPods"), False, "Additional properties"),
        (1, ("spec", "disruption", "consolidateAfter"), "30 minutes", "does not match"),
        (1, ("spec", "disruption", "consolidationPolicy"), "WhenIdle", "is not one of"),
        (1, ("spec", "limits", "nvidia.com/gpu"), "four", "does not match"),
        (1, ("spec", "template", "spec", "nodeClassRef", "kind"), None, "is not of type"),
        (0, ("spec", "imageFamily"), "Windows2022", "is not one of"),
        (0, ("spec", "gpu"), {"mode": "Driver", "count": 2}, "Additional properties"),
    ],
)
def test_the_crd_schemas_reject_what_karpenter_would(
    crds: Path, bundle: Bundle, cluster_of: Validate, broken: Broken
) -> None:
    index, path, value, expected = broken
    manifests = _prod_like(bundle, cluster_of)
    assert schema_errors(crds, manifests) == []
    _set(manifests[index], path, value)
    found = schema_errors(crds, manifests)
    assert found
    assert all(expected in e for e in found), found


def test_an_apiversion_the_crd_does_not_serve_is_caught(
    crds: Path, bundle: Bundle, cluster_of: Validate
) -> None:
    manifests = _prod_like(bundle, cluster_of)
    manifests[0]["apiVersion"] = "karpenter.azure.com/v1"
    assert schema_errors(crds, manifests) == [
        "AKSNodeClass/burst vs github.com/Azure/karpenter-provider-azure: "
        "karpenter.azure.com/v1 is not served (['v1alpha2', 'v1beta1'])"
    ]


def test_rendered_pools_keep_the_crds_cel_rules(bundle: Bundle, cluster_of: Validate) -> None:
    """The CEL rules (x-kubernetes-validations) jsonschema cannot run, restated for what
    modelsync renders: requirement keys and labels outside karpenter.sh (capacity-type
    aside), `In` with values, schedule and duration together, no replicas with limits."""
    manifests = _prod_like(bundle, cluster_of)
    spec = manifests[1]["spec"]
    for requirement in spec["template"]["spec"]["requirements"]:
        key = requirement["key"]
        assert key == "karpenter.sh/capacity-type" or not key.split("/")[0].endswith("karpenter.sh")
        assert requirement["operator"] != "In" or requirement["values"]
    labels = spec["template"]["metadata"]["labels"]
    assert not any(k.split("/")[0].endswith("karpenter.sh") for k in labels)
    assert "kubernetes.io/hostname" not in labels
    for budget in spec["disruption"]["budgets"]:
        assert ("schedule" in budget) == ("duration" in budget)
    assert "replicas" not in spec
