"""Desired releases: the chart values each Workspace becomes (docs/contracts.md 2 and 4)."""

from __future__ import annotations

from typing import Any

from controller.core.releases import DesiredRelease, desired_releases
from tests.core.conftest import CLUSTER, Validate, workspace

VERSIONS = {"workspace-inference": "0.1.0", "workspace-tuning": "0.1.0"}
#: A well-formed sha256 digest (KAITO refuses a short one).
DIGEST = "ab" * 32


def release(validate: Validate, body: str, **meta: Any) -> DesiredRelease:
    report = validate({"clusters/test/w.yaml": workspace(body, **meta)})
    assert report.errors == 0, report.findings
    [one] = desired_releases(report.clusters[0], VERSIONS)
    return one


PHI = """\
resource:
  instanceType: Standard_NC24ads_A100_v4
  labelSelector: {matchLabels: {app: phi}}
  preferredNodes: [node-1]
inference:
  preset: {name: phi-3.5-mini-instruct}
"""


def test_inference_values_carry_preset_sizing_and_placement(validate: Validate) -> None:
    r = release(validate, PHI, namespace="team-a")
    assert (r.name, r.namespace, r.chart, r.chart_version) == (
        "ws",
        "team-a",
        "workspace-inference",
        "0.1.0",
    )
    v = r.values
    assert v["workspace"] == {"name": "ws", "cluster": "test"}
    assert v["model"]["huggingFaceId"] == "microsoft/Phi-3.5-mini-instruct"
    assert v["model"]["servedModelName"] == "phi-3.5-mini-instruct"
    assert v["vllm"]["tensorParallelSize"] == 1
    assert v["vllm"]["maxModelLen"] == 131072
    assert v["resources"] == {"gpus": 1}
    assert v["pool"] == {"name": "a100", "labels": {"agentpool": "a100"}, "taints": []}
    assert v["modelCache"] == {"type": "emptyDir"}


def test_label_selector_and_preferred_nodes_become_preferred_affinity(validate: Validate) -> None:
    preferences = release(validate, PHI).values["affinity"]["nodeAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert preferences == [
        {
            "weight": 100,
            "preference": {
                "matchExpressions": [{"key": "app", "operator": "In", "values": ["phi"]}]
            },
        },
        {
            "weight": 50,
            "preference": {
                "matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}
                ]
            },
        },
    ]


def test_inline_vllm_config_becomes_values_and_flags(validate: Validate) -> None:
    body = PHI.replace(
        "inference:\n",
        "inference:\n  config:\n    vllm:\n"
        "      max-num-seqs: 16\n      enable-prefix-caching: true\n"
        "      enforce-eager: false\n      swap-space: 4\n      dtype: float16\n",
    )
    vllm = release(validate, body).values["vllm"]
    assert vllm["maxNumSeqs"] == 16
    assert vllm["dtype"] == "float16"
    assert vllm["extraArgs"] == ["--enable-prefix-caching", "--no-enforce-eager", "--swap-space=4"]


def test_a_kaito_config_map_name_is_passed_through(validate: Validate) -> None:
    body = PHI.replace("inference:\n", "inference:\n  config: my-inference-config\n")
    assert release(validate, body).values["vllm"]["configMap"] == "my-inference-config"


def test_adapters_and_pull_secrets(validate: Validate) -> None:
    body = PHI.replace(
        "  preset: {name: phi-3.5-mini-instruct}\n",
        "  preset:\n    name: phi-3.5-mini-instruct\n"
        "    presetOptions: {imagePullSecrets: [base]}\n"
        "  adapters:\n"
        "    - source: {name: a, image: r/a:1, imagePullSecrets: [reg, base]}\n"
        "    - source: {name: b, volumeSource: {persistentVolumeClaim: {claimName: c}}}\n",
    )
    v = release(validate, body).values
    assert v["adapters"] == [
        {"name": "a", "image": "r/a:1"},
        {"name": "b", "volumeSource": {"persistentVolumeClaim": {"claimName": "c"}}},
    ]
    assert v["imagePullSecrets"] == ["base", "reg"]


def test_tuning_values_merge_defaults_with_the_inline_config(validate: Validate) -> None:
    body = (
        "resource: {instanceType: Standard_NC24ads_A100_v4}\n"
        "tuning:\n  preset: {name: qwen2.5-coder-7b-instruct}\n  method: qlora\n"
        "  config:\n    LoraConfig: {r: 16, lora_dropout: null}\n"
        "  input: {urls: ['https://example.com/d.parquet']}\n"
        "  output: {image: r/out:1, imagePushSecret: push}\n"
    )
    r = release(validate, body)
    assert r.chart == "workspace-tuning"
    config = r.values["trainingConfig"]
    assert config["LoraConfig"]["r"] == 16
    assert "lora_dropout" not in config["LoraConfig"]
    assert config["LoraConfig"]["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert config["QuantizationConfig"]["load_in_4bit"] is True
    assert r.values["method"] == "qlora"
    assert r.values["input"] == {"urls": ["https://example.com/d.parquet"]}
    assert r.values["output"] == {"image": "r/out:1", "imagePushSecret": "push"}


def test_the_digest_follows_chart_version_and_values_only(validate: Validate) -> None:
    first = release(validate, PHI)
    assert release(validate, PHI).digest == first.digest
    assert release(validate, PHI.replace("app: phi", "app: phi2")).digest != first.digest
    pinned = PHI.replace("resource:", "resource:").replace("inference:", "inference:")
    meta = workspace(pinned).replace(
        "  name: ws\n", "  name: ws\n  annotations: {modelsync.dev/chart-version: 0.2.0}\n"
    )
    report = validate({"clusters/test/w.yaml": meta})
    [other] = desired_releases(report.clusters[0], VERSIONS)
    assert other.chart_version == "0.2.0"
    assert other.digest != first.digest
    assert first.labels["modelsync.dev/digest"] == first.digest


def test_private_presets_use_their_image(validate: Validate) -> None:
    body = PHI.replace(
        "  preset: {name: phi-3.5-mini-instruct}\n",
        "  preset:\n    name: phi-3.5-mini-instruct\n    accessMode: private\n"
        f"    presetOptions: {{image: 'acme.io/phi:1.0@sha256:{DIGEST}'}}\n",
    )
    assert release(validate, body).values["image"] == {
        "repository": "acme.io/phi",
        "tag": f"1.0@sha256:{DIGEST}",
    }


def test_cluster_chart_values_apply_under_the_controllers_own(validate: Validate) -> None:
    cluster = CLUSTER.replace(
        "spec:\n",
        "spec:\n  charts:\n    values:\n      workspace-inference:\n"
        "        image: {repository: mirror.local/inference}\n"
        "        serviceMonitor: {enabled: true}\n"
        "        vllm: {tensorParallelSize: 8, port: 8000}\n",
    )
    report = validate(
        {"clusters/test/cluster.yaml": cluster, "clusters/test/w.yaml": workspace(PHI)}
    )
    assert report.errors == 0, report.findings
    [r] = desired_releases(report.clusters[0], VERSIONS)
    assert r.values["image"] == {"repository": "mirror.local/inference"}
    assert r.values["serviceMonitor"] == {"enabled": True}
    assert r.values["vllm"]["port"] == 8000
    assert r.values["vllm"]["tensorParallelSize"] == 1  # sizing wins over the cluster
