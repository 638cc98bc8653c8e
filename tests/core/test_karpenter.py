"""Auto-provisioned pools: the cluster.yaml field, what Karpenter would refuse, the NodePool
and NodeClass rendered for it, and what it changes for the Workspaces placed on it."""

from __future__ import annotations

from controller.adapters.bundled import Bundle
from controller.core.nodepools import node_pool_manifests
from controller.core.releases import DO_NOT_DISRUPT, desired_releases
from controller.core.validation import Report
from tests.core.conftest import Validate, workspace

VERSIONS = {"workspace-inference": "0.1.0", "workspace-tuning": "0.1.0"}

AUTO = """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {name: test}
spec:
  namespaces: [default]
  nodePools:
    - name: fixed
      gpu: A100-80GB
      gpusPerNode: 1
      nodes: 1
      instanceType: Standard_NC24ads_A100_v4
    - name: burst
      gpu: A100-80GB
      gpusPerNode: 1
      maxNodes: 2
      instanceType: Standard_NC24ads_A100_v4
      labels: {example.com/pool: burst}
      taints: [{key: burst, value: "yes", effect: NoSchedule}]
      autoProvision: {provider: karpenter}
"""


def cluster(validate: Validate, text: str, **files: str) -> Report:
    return validate({"clusters/test/cluster.yaml": text} | files)


def messages(report: Report) -> list[str]:
    return [f"{f.field}: {f.message}" for f in report.findings]


def pool_yaml(
    extra: str, instance: str = "Standard_NC24ads_A100_v4", gpu: str = "A100-80GB"
) -> str:
    return AUTO.split("    - name: burst", maxsplit=1)[0] + (
        "    - name: burst\n"
        f"      gpu: {gpu}\n      gpusPerNode: 1\n      maxNodes: 2\n"
        f"      instanceType: {instance}\n" + extra
    )


# --- cluster.yaml -------------------------------------------------------------------


def test_an_auto_provisioned_pool_needs_max_nodes_and_an_instance_type(validate: Validate) -> None:
    text = AUTO.replace(
        "      maxNodes: 2\n      instanceType: Standard_NC24ads_A100_v4\n      labels",
        "      nodes: 2\n      labels",
    )
    assert messages(cluster(validate, text)) == [
        "spec.nodePools[1]: missing required field 'maxNodes'",
        "spec.nodePools[1]: missing required field 'instanceType'",
    ]


def test_the_provider_and_durations_are_checked_by_the_schema(validate: Validate) -> None:
    text = AUTO.replace(
        "autoProvision: {provider: karpenter}",
        "autoProvision: {provider: cluster-autoscaler, consolidateAfter: 30 minutes}",
    )
    assert sorted(messages(cluster(validate, text))) == [
        "spec.nodePools[1].autoProvision.consolidateAfter: "
        "'30 minutes' is not a duration such as 10m or 1h30m, or Never",
        "spec.nodePools[1].autoProvision.provider: must be 'karpenter', got 'cluster-autoscaler'",
    ]


def test_an_instance_type_outside_the_catalog_or_on_gcp_has_no_nodeclass(
    validate: Validate,
) -> None:
    unknown = pool_yaml("      autoProvision: {provider: karpenter}\n", instance="Standard_X1")
    assert messages(cluster(validate, unknown)) == [
        "spec.nodePools[1].instanceType: instance type 'Standard_X1' is not in "
        "presets/instance-types.yaml, so its cloud (and NodeClass) and the NodePool's "
        "limits are unknown"
    ]
    gcp = pool_yaml("      autoProvision: {provider: karpenter}\n", instance="a2-ultragpu-1g")
    assert messages(cluster(validate, gcp)) == [
        "spec.nodePools[1].autoProvision: a2-ultragpu-1g is a gcp instance type; modelsync "
        "renders Karpenter NodeClasses for aws, azure only"
    ]


def test_aws_pools_must_name_their_role_subnets_and_security_groups(validate: Validate) -> None:
    text = pool_yaml(
        "      autoProvision: {provider: karpenter, nodeClass: {role: KarpenterNodeRole}}\n",
        instance="g6e.xlarge",
        gpu="L40S",
    )
    assert messages(cluster(validate, text)) == [
        "spec.nodePools[1].autoProvision.nodeClass: EC2NodeClass needs subnetSelectorTerms "
        "in autoProvision.nodeClass (no default fits every aws account)",
        "spec.nodePools[1].autoProvision.nodeClass: EC2NodeClass needs "
        "securityGroupSelectorTerms in autoProvision.nodeClass (no default fits every aws account)",
    ]


def test_azure_offers_no_reserved_capacity_and_restricted_labels_are_refused(
    validate: Validate,
) -> None:
    text = pool_yaml(
        "      labels: {karpenter.azure.com/sku-name: x, kubernetes.io/role: gpu,"
        " node-restriction.kubernetes.io/ok: x, topology.kubernetes.io/zone: eastus-1}\n"
        "      autoProvision: {provider: karpenter, capacityTypes: [on-demand, reserved]}\n"
    )
    assert sorted(messages(cluster(validate, text))) == [
        "spec.nodePools[1].autoProvision.capacityTypes: AKSNodeClass (azure) does not offer "
        "capacity type 'reserved'",
        "spec.nodePools[1].labels.karpenter.azure.com/sku-name: Karpenter does not let a "
        "NodePool set label 'karpenter.azure.com/sku-name' (a restricted domain); use a "
        "label of your own domain",
        "spec.nodePools[1].labels.kubernetes.io/role: Karpenter does not let a NodePool set "
        "label 'kubernetes.io/role' (a restricted domain); use a label of your own domain",
    ]


# --- rendering -------------------------------------------------------------------------


def test_the_nodepool_carries_the_pools_shape_limits_and_safe_disruption(
    validate: Validate, bundle: Bundle
) -> None:
    report = cluster(validate, AUTO)
    assert report.findings == ()
    spec = report.clusters[0].cluster
    assert spec is not None
    node_class, nodepool = node_pool_manifests(spec, bundle.catalog)
    assert node_class == {
        "apiVersion": "karpenter.azure.com/v1beta1",
        "kind": "AKSNodeClass",
        "metadata": {
            "name": "burst",
            "labels": {
                "modelsync.dev/managed-by": "modelsync",
                "modelsync.dev/cluster": "test",
            },
        },
        "spec": {},
    }
    assert nodepool["apiVersion"] == "karpenter.sh/v1"
    assert nodepool["spec"] == {
        "template": {
            "metadata": {"labels": {"example.com/pool": "burst"}},
            "spec": {
                "nodeClassRef": {
                    "group": "karpenter.azure.com",
                    "kind": "AKSNodeClass",
                    "name": "burst",
                },
                "requirements": [
                    {
                        "key": "node.kubernetes.io/instance-type",
                        "operator": "In",
                        "values": ["Standard_NC24ads_A100_v4"],
                    },
                    {
                        "key": "karpenter.sh/capacity-type",
                        "operator": "In",
                        "values": ["on-demand"],
                    },
                    {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                ],
                "expireAfter": "Never",
                "taints": [{"key": "burst", "effect": "NoSchedule", "value": "yes"}],
            },
        },
        # Standard_NC24ads_A100_v4: 1 GPU, 24 vCPUs, 220 GiB; maxNodes 2.
        "limits": {"nvidia.com/gpu": "2", "cpu": "48", "memory": "440Gi"},
        "disruption": {
            "consolidationPolicy": "WhenEmpty",
            "consolidateAfter": "10m",
            "budgets": [{"nodes": "1"}],
        },
    }


def test_aws_nodeclass_defaults_the_ami_and_keeps_the_pools_fields(
    validate: Validate, bundle: Bundle
) -> None:
    text = pool_yaml(
        "      autoProvision:\n        provider: karpenter\n        nodeClass:\n"
        "          instanceProfile: gpu-nodes\n"
        "          subnetSelectorTerms: [{id: subnet-1}]\n"
        "          securityGroupSelectorTerms: [{id: sg-1}]\n",
        instance="g6e.xlarge",
        gpu="L40S",
    )
    report = cluster(validate, text)
    assert report.findings == ()
    spec = report.clusters[0].cluster
    assert spec is not None
    node_class, nodepool = node_pool_manifests(spec, bundle.catalog)
    assert (node_class["apiVersion"], node_class["kind"]) == (
        "karpenter.k8s.aws/v1",
        "EC2NodeClass",
    )
    assert node_class["spec"] == {
        "amiSelectorTerms": [{"alias": "al2023@latest"}],
        "instanceProfile": "gpu-nodes",
        "subnetSelectorTerms": [{"id": "subnet-1"}],
        "securityGroupSelectorTerms": [{"id": "sg-1"}],
    }
    assert nodepool["spec"]["limits"] == {"nvidia.com/gpu": "2", "cpu": "8", "memory": "64Gi"}


def test_pools_without_auto_provision_render_nothing(validate: Validate, bundle: Bundle) -> None:
    report = validate({})
    spec = report.clusters[0].cluster
    assert spec is not None
    assert node_pool_manifests(spec, bundle.catalog) == []


# --- Workspaces on the pool ---------------------------------------------------------------


def test_workloads_on_an_auto_provisioned_pool_are_not_disrupted(validate: Validate) -> None:
    burst = workspace(
        "resource: {count: 1}\ninference:\n  preset: {name: phi-3.5-mini-instruct}\n"
        "tolerations: [{key: burst, operator: Exists}]\n",
        name="burst-ws",
    ).replace("metadata:\n", "metadata:\n  annotations: {modelsync.dev/pool: burst}\n")
    fixed = workspace(
        "resource: {count: 1}\ninference:\n  preset: {name: phi-3.5-mini-instruct}\n",
        name="fixed-ws",
    )
    report = cluster(
        validate, AUTO, **{"clusters/test/a.yaml": burst, "clusters/test/b.yaml": fixed}
    )
    assert report.errors == 0, report.findings
    values = {r.workspace: r.values for r in desired_releases(report.clusters[0], VERSIONS)}
    assert values["burst-ws"]["pool"]["name"] == "burst"
    assert values["burst-ws"]["podAnnotations"] == {DO_NOT_DISRUPT: "true"}
    assert "podAnnotations" not in values["fixed-ws"]


def test_a_workspace_past_the_nodepools_limits_is_reported(validate: Validate) -> None:
    burst = workspace(
        "resource: {count: 3}\ninference:\n  preset: {name: phi-3.5-mini-instruct}\n"
        "tolerations: [{key: burst, operator: Exists}]\n",
        name="burst-ws",
    ).replace("metadata:\n", "metadata:\n  annotations: {modelsync.dev/pool: burst}\n")
    report = cluster(validate, AUTO, **{"clusters/test/a.yaml": burst})
    assert messages(report) == [
        "resource: node pool burst of cluster test is over capacity: its Workspaces need 3 "
        "GPUs (burst-ws 3x1) but it has 2 (max 2 nodes x 1); its Karpenter NodePool's "
        "limits (nvidia.com/gpu: 2) are exhausted"
    ]


def test_a_node_selector_the_nodepool_cannot_meet_keeps_the_workspace_off_it(
    validate: Validate,
) -> None:
    def on_burst(selector: str) -> str:
        return workspace(
            "resource: {count: 1}\ninference:\n  preset: {name: phi-3.5-mini-instruct}\n"
            f"nodeSelector: {selector}\ntolerations: [{{key: burst, operator: Exists}}]\n",
            name="burst-ws",
        ).replace("metadata:\n", "metadata:\n  annotations: {modelsync.dev/pool: burst}\n")

    met = on_burst(
        "{example.com/pool: burst, karpenter.sh/capacity-type: on-demand,"
        " topology.kubernetes.io/zone: eastus-1}"
    )
    assert cluster(validate, AUTO, **{"clusters/test/a.yaml": met}).findings == ()
    unmet = on_burst("{team: ml, karpenter.sh/capacity-type: spot}")
    assert messages(cluster(validate, AUTO, **{"clusters/test/a.yaml": unmet})) == [
        "resource: does not fit pool burst of cluster test: Karpenter would create no node "
        "with nodeSelector karpenter.sh/capacity-type=spot (the NodePool launches on-demand); "
        "team=ml (not a label of the pool)"
    ]


def test_without_cpu_and_memory_in_the_catalog_the_limits_cap_gpus_only(
    validate: Validate, bundle: Bundle
) -> None:
    text = pool_yaml(
        "      autoProvision:\n        provider: karpenter\n        nodeClass:\n"
        "          role: gpu-nodes\n"
        "          subnetSelectorTerms: [{id: subnet-1}]\n"
        "          securityGroupSelectorTerms: [{id: sg-1}]\n",
        instance="g4dn.xlarge",
        gpu="T4",
    )
    report = cluster(validate, text)
    assert [(f.severity, m) for f, m in zip(report.findings, messages(report), strict=True)] == [
        (
            "warning",
            "spec.nodePools[1].instanceType: presets/instance-types.yaml gives no vcpus and "
            "memoryGiB for g4dn.xlarge; the NodePool's limits cap GPUs only",
        )
    ]
    spec = report.clusters[0].cluster
    assert spec is not None
    _, nodepool = node_pool_manifests(spec, bundle.catalog)
    assert nodepool["spec"]["limits"] == {"nvidia.com/gpu": "2"}
