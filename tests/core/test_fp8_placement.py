"""FP8 presets (DeepSeek V3/R1, Ministral 3, Mistral Large 3) and the GPUs that can load them.

vLLM runs FP8 weights natively from compute capability 8.9 and weight-only from 7.5; a V100
(7.0) cannot load them, so such a pool is refused at validation rather than at start-up.
"""

from __future__ import annotations

from tests.core.conftest import Validate, workspace

CLUSTER = """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {name: test}
spec:
  nodePools:
    - {name: v100, gpu: V100-16GB, gpusPerNode: 4, nodes: 1, instanceType: Standard_NC24s_v3}
    - {name: t4, gpu: T4, gpusPerNode: 4, nodes: 1, instanceType: Standard_NC64as_T4_v3}
"""


def ministral_on(instance_type: str) -> str:
    return workspace(
        f"resource: {{instanceType: {instance_type}}}\n"
        "inference: {preset: {name: ministral-3-3b-instruct}}\n"
    )


def test_a_volta_pool_cannot_serve_fp8_weights(validate: Validate) -> None:
    report = validate(
        {
            "clusters/test/cluster.yaml": CLUSTER,
            "clusters/test/w.yaml": ministral_on("Standard_NC24s_v3"),
        }
    )
    (finding,) = [f for f in report.findings if f.is_error]
    assert finding.field == "resource.instanceType"
    assert "V100-16GB (compute capability 7.0) cannot run the preset's FP8 weights" in (
        finding.message
    )


def test_turing_runs_them_weight_only(validate: Validate) -> None:
    report = validate(
        {
            "clusters/test/cluster.yaml": CLUSTER,
            "clusters/test/w.yaml": ministral_on("Standard_NC64as_T4_v3"),
        }
    )
    assert report.errors == 0, report.findings
