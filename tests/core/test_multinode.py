"""Multi-node serving (issue 12 item 5): a model larger than one node becomes ONE group of
``resource.count`` nodes, sized with tensor-parallel = GPUs per node and pipeline-parallel =
nodes; a count below the group's minimum is an error that names the minimum.

Sizing arithmetic on a synthetic preset with round numbers; placement, findings, capacity
and release values through the real validation on KAITO's own DeepSeek R1 example shape.
"""

from __future__ import annotations

import math

import pytest

from controller.core.catalog import GIB
from controller.core.findings import Severity
from controller.core.releases import desired_releases
from controller.core.sizing import (
    INFERENCE_RESERVE_BYTES,
    kv_bytes_per_token,
    size_group,
    size_inference,
)
from tests.core.conftest import Validate, workspace
from tests.core.test_sizing import LLAMA_8B, preset

#: 2 x H100 NVL (94 GB) per node, KAITO's Standard_NC80adis_H100_v5.
CLUSTER = """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {name: test}
spec:
  nodePools:
    - {name: h100, gpu: H100-NVL-94GB, gpusPerNode: 2, nodes: NODES,
       instanceType: Standard_NC80adis_H100_v5}
"""
VERSIONS = {"workspace-inference": "0.1.0", "workspace-tuning": "0.1.0"}


def deepseek(count: int | None) -> str:
    resource = "{instanceType: Standard_NC80adis_H100_v5" + (
        f", count: {count}}}" if count is not None else "}"
    )
    return workspace(
        f"resource: {resource}\n"
        "inference: {preset: {name: deepseek-r1-0528, presetOptions: "
        "{modelAccessSecret: hf-token}}}\n",
        name="r1",
    )


def files(count: int | None, nodes: int = 8) -> dict[str, str]:
    return {
        "clusters/test/cluster.yaml": CLUSTER.replace("NODES", str(nodes)),
        "clusters/test/r1.yaml": deepseek(count),
    }


def test_a_group_splits_weights_over_every_gpu_and_kv_over_the_stages() -> None:
    model = preset(300)  # 300 GiB: more than 2 x 80 GiB, less than 6 x 2 x 80 GiB
    assert not size_inference(
        model, gpu_memory_gib=80, gpus_per_node=2, gpu_memory_utilization=0.9
    ).fits
    group, minimum = size_group(
        model,
        gpu_memory_gib=80,
        gpus_per_node=2,
        gpu_memory_utilization=0.9,
        max_model_len=8192,
        nodes=4,
    )
    assert group is not None
    assert (group.tensor_parallel, group.pipeline_parallel, group.gpus) == (2, 4, 8)
    assert group.weights_per_gpu_bytes == math.ceil(300 * GIB / 8)
    # A stage caches its quarter of the layers, each at tensor-parallel 2.
    assert group.kv_per_token_bytes == kv_bytes_per_token(LLAMA_8B, 2) // 4
    assert group.need_per_gpu_bytes == (
        group.weights_per_gpu_bytes + group.kv_per_token_bytes * 8192 + INFERENCE_RESERVE_BYTES
    )
    # 300 GiB over 2 x 72 GiB per node: three nodes hold it, two do not.
    assert minimum == 3


def test_too_few_nodes_give_no_group_but_the_minimum() -> None:
    model = preset(300)
    group, minimum = size_group(
        model, gpu_memory_gib=80, gpus_per_node=2, gpu_memory_utilization=0.9, nodes=2
    )
    assert (group, minimum) == (None, 3)


def test_a_model_no_group_holds_has_no_minimum() -> None:
    group, minimum = size_group(
        preset(100_000), gpu_memory_gib=80, gpus_per_node=2, gpu_memory_utilization=0.9, nodes=6
    )
    assert (group, minimum) == (None, 0)


def test_kaitos_deepseek_r1_example_becomes_one_six_node_group(validate: Validate) -> None:
    report = validate(files(6))
    assert report.errors == 0, report.findings
    (note,) = [f for f in report.findings if f.severity is Severity.INFO and f.code == "multi-node"]
    assert note.field == "resource.count"
    assert "LeaderWorkerSet of 6 pods x 2 GPUs" in note.message
    (cluster,) = report.clusters
    (result,) = cluster.workspaces
    placement = result.placement
    assert placement is not None
    assert (placement.replicas, placement.nodes, placement.gpus_per_replica) == (1, 6, 2)
    assert placement.gpus == 12
    explain = "\n".join(placement.explain)
    assert "/ TP 2 x PP 6" in explain
    assert "fits with 6 nodes x 2 = 12 GPUs" in explain
    (release,) = desired_releases(cluster, VERSIONS)
    assert release.values["multiNode"] == {"nodes": 6}
    assert release.values["replicaCount"] == 1
    assert release.values["resources"]["gpus"] == 2
    assert release.values["vllm"]["tensorParallelSize"] == 2
    assert release.values["modelCache"] == {"type": "emptyDir"}


def test_a_count_below_the_minimum_is_an_error_at_resource_count(validate: Validate) -> None:
    report = validate(files(2))
    (error,) = [f for f in report.findings if f.is_error]
    assert error.field == "resource.count"
    assert error.line == 5  # the flow mapping on the resource: line, at count
    assert "multi-node group of at least 4 nodes" in error.message
    assert "set it to 4 or more" in error.message


def test_without_a_count_the_machine_is_what_to_change(validate: Validate) -> None:
    # KAITO's webhook points at the instance type when one node is asked for (and too small).
    report = validate(files(None))
    (error,) = [f for f in report.findings if f.is_error]
    assert error.field == "resource.instanceType"
    assert "at least 4 nodes" in error.message


def test_a_group_needs_that_many_nodes_in_its_pool(validate: Validate) -> None:
    report = validate(files(6, nodes=4))
    (error,) = [f for f in report.findings if f.is_error]
    assert error.code == "capacity"
    assert "need 12 GPUs (r1 6x2) but it has 8 (4 nodes x 2)" in error.message


def test_a_model_one_node_holds_keeps_count_as_replicas(validate: Validate) -> None:
    report = validate(
        {
            "clusters/test/cluster.yaml": CLUSTER.replace("NODES", "4"),
            "clusters/test/w.yaml": workspace(
                "resource: {instanceType: Standard_NC80adis_H100_v5, count: 3}\n"
                "inference: {preset: {name: phi-3.5-mini-instruct}}\n"
            ),
        }
    )
    assert report.errors == 0, report.findings
    (result,) = report.clusters[0].workspaces
    assert result.placement is not None
    assert (result.placement.replicas, result.placement.nodes) == (3, 1)
    assert not [f for f in report.findings if f.code == "multi-node"]
    # No multiNode key at all: single-node values and digests are what they were before.
    (release,) = desired_releases(report.clusters[0], VERSIONS)
    assert "multiNode" not in release.values


@pytest.mark.parametrize("flag", ["pipeline-parallel-size", "distributed-executor-backend"])
def test_the_group_layout_flags_are_modelsyncs_to_set(validate: Validate, flag: str) -> None:
    text = deepseek(6) + f"  config: {{vllm: {{{flag}: 2}}}}\n"
    text = text.replace(
        "inference: {preset: {name: deepseek-r1-0528, presetOptions: "
        "{modelAccessSecret: hf-token}}}\n",
        "inference:\n  preset: {name: deepseek-r1-0528, presetOptions: "
        "{modelAccessSecret: hf-token}}\n",
    )
    report = validate(files(6) | {"clusters/test/r1.yaml": text})
    (error,) = [f for f in report.findings if f.is_error]
    assert error.field == f"inference.config.vllm.{flag}"
    assert "set by modelsync" in error.message
