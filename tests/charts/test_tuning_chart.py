"""charts/workspace-tuning: the PEFT Job, its training config, input staging and output push."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import helm_python
import pytest

from tests.charts.rendering import (
    CHARTS_DIR,
    Rendered,
    all_containers,
    assert_locked_down,
    chart,
    configmap_file,
    configmap_text,
    container,
    env_of,
    mounts_of,
    pod_spec,
    render,
    scenario,
    volumes_of,
    with_values,
)

CHART = "workspace-tuning"
SCRIPTS = CHARTS_DIR / CHART / "files"


def values(name: str = "lora-urls", **overrides: Any) -> dict[str, Any]:
    return with_values(scenario(CHART, name).values, **overrides)


def rendered(name: str = "lora-urls", **overrides: Any) -> Rendered:
    v = values(name, **overrides)
    return render(CHART, v, release=v["workspace"]["name"])


def job_pod(out: Rendered) -> dict[str, Any]:
    return pod_spec(out.one("Job"))


def training_config(out: Rendered) -> dict[str, Any]:
    config: dict[str, Any] = configmap_file(out, "training_config.yaml")
    assert list(config) == ["training_config"]
    sections: dict[str, Any] = config["training_config"]
    return sections


# --- the Job --------------------------------------------------------------------------


def test_job_runs_once_with_retries_deadline_and_ttl() -> None:
    job = rendered("qlora-volume").one("Job")
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"]) == (1, 1)
    assert spec["backoffLimit"] == 5
    assert spec["activeDeadlineSeconds"] == 86400
    assert spec["ttlSecondsAfterFinished"] == 604800
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    # Evictions and preemptions are retried without spending backoffLimit.
    assert spec["podFailurePolicy"]["rules"] == [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    ]


def test_job_name_changes_with_the_values_because_its_template_is_immutable() -> None:
    name = rendered().one("Job")["metadata"]["name"]
    assert name.startswith("workspace-tuning-phi-3-5-")
    assert len(name) <= 63
    assert rendered().one("Job")["metadata"]["name"] == name
    assert rendered(job={"backoffLimit": 1}).one("Job")["metadata"]["name"] != name


def test_trainer_runs_the_contract_command_line() -> None:
    trainer = container(job_pod(rendered("configmap-override")), "trainer")
    assert trainer["command"] == ["modelsync-train"]
    assert trainer["args"] == [
        "--config",
        "/etc/modelsync/training/training_config.yaml",
        "--config",
        "/etc/modelsync/training-override/training_config.yaml",
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--data-dir",
        "/mnt/data",
        "--output-dir",
        "/mnt/output",
    ]
    spec = job_pod(rendered("configmap-override"))
    assert volumes_of(spec)["training-override"]["configMap"] == {
        "name": "llama-tuning-config",
        "items": [{"key": "training_config.yaml", "path": "training_config.yaml"}],
    }


def test_without_an_override_there_is_one_config() -> None:
    args = container(job_pod(rendered()), "trainer")["args"]
    assert args.count("--config") == 1


# --- training config ------------------------------------------------------------------


def test_training_config_is_written_in_kaito_format() -> None:
    sections = training_config(rendered())
    assert set(sections) == {
        "ModelConfig",
        "LoraConfig",
        "TrainingArguments",
        "DataCollator",
        "DatasetConfig",
    }
    assert sections["LoraConfig"]["target_modules"] == [
        "qkv_proj",
        "o_proj",
        "gate_up_proj",
        "down_proj",
    ]
    # Large integers survive the JSON round trip through Helm as integers.
    assert sections["TrainingArguments"]["max_steps"] == 1000000
    assert sections["TrainingArguments"]["learning_rate"] == pytest.approx(0.0002)


def test_quantization_config_is_only_for_qlora() -> None:
    assert "QuantizationConfig" in training_config(rendered("qlora-volume"))
    lora_with_stray_section = rendered(
        trainingConfig={"QuantizationConfig": {"load_in_4bit": True}}
    )
    assert "QuantizationConfig" not in training_config(lora_with_stray_section)


def test_qlora_without_quantization_settings_gets_kaitos_4bit_default() -> None:
    out = rendered("qlora-volume", trainingConfig={"QuantizationConfig": {}})
    assert training_config(out)["QuantizationConfig"] == {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_compute_dtype": "bfloat16",
        "bnb_4bit_use_double_quant": True,
    }


def test_a_pinned_revision_reaches_from_pretrained_unless_set_there() -> None:
    assert training_config(rendered())["ModelConfig"]["revision"] == (
        "2fe192450127e6a83f7441aef6e3ca586c338b77"
    )
    explicit = rendered(trainingConfig={"ModelConfig": {"revision": "main"}})
    assert training_config(explicit)["ModelConfig"]["revision"] == "main"
    assert "revision" not in training_config(rendered("qlora-volume"))["ModelConfig"]


def test_chart_defaults_never_add_training_keys() -> None:
    # A null in the Workspace removes a preset default; the chart must not put it back.
    lora = with_values(values(), trainingConfig={"LoraConfig": {"r": 4}})
    assert training_config(render(CHART, lora))["LoraConfig"] == {"r": 4}


# --- input ----------------------------------------------------------------------------


def test_urls_are_downloaded_by_a_pinned_curl_with_retries() -> None:
    out = rendered("oci-output")
    download = container(job_pod(out), "input-download")
    assert download["image"] == "docker.io/curlimages/curl:8.11.1"
    assert download["command"] == ["/bin/sh", "/etc/modelsync/scripts/download.sh"]
    env = env_of(download)
    assert env["DATA_URLS"]["value"] == (
        "https://example.com/datasets/support-tickets/train.jsonl "
        "https://example.com/datasets/support-tickets/eval.jsonl"
    )
    assert env["DATA_DIR"]["value"] == "/mnt/data"
    assert env["RETRIES"]["value"] == "5"
    assert mounts_of(download)["/mnt/data"]["name"] == "data"
    assert configmap_text(out, "download.sh") == (SCRIPTS / "download.sh").read_text()


def test_image_input_is_copied_out_of_the_image() -> None:
    spec = job_pod(rendered("image-input"))
    assert [c["name"] for c in spec["initContainers"]] == ["input-tools", "input-copy", "trainer"]
    copy = container(spec, "input-copy")
    assert copy["image"] == "myregistry.azurecr.io/datasets/legal-qa:2024-11"
    assert copy["command"] == ["/modelsync-tools/busybox", "cp", "-R", "/data/.", "/mnt/data/"]
    assert spec["imagePullSecrets"] == [{"name": "acr-pull"}]


def test_volume_input_is_mounted_read_only() -> None:
    spec = job_pod(rendered("qlora-volume"))
    assert "initContainers" not in spec
    assert volumes_of(spec)["data"]["persistentVolumeClaim"] == {
        "claimName": "code-review-dataset",
        "readOnly": True,
    }
    assert mounts_of(container(spec, "trainer"))["/mnt/data"]["readOnly"] is True


# --- output ---------------------------------------------------------------------------


def test_volume_output_keeps_checkpoints_for_a_retried_pod() -> None:
    spec = job_pod(rendered("qlora-volume"))
    assert [c["name"] for c in spec["containers"]] == ["trainer"]
    assert volumes_of(spec)["output"]["persistentVolumeClaim"] == {
        "claimName": "qwen-coder-adapter"
    }
    assert mounts_of(container(spec, "trainer"))["/mnt/output"]["name"] == "output"


def test_image_output_is_pushed_with_oras_after_the_trainer() -> None:
    out = rendered("oci-output")
    spec = job_pod(out)
    # The trainer is the last init container: the push starts only after it exited 0.
    assert [c["name"] for c in spec["initContainers"]] == ["input-download", "trainer"]
    [push] = spec["containers"]
    assert push["name"] == "push"
    assert push["image"] == "ghcr.io/oras-project/oras:v1.2.2"
    assert push["command"] == ["/bin/sh", "/etc/modelsync/scripts/push.sh"]
    env = env_of(push)
    assert env["IMAGE"]["value"] == "myregistry.azurecr.io/adapters/falcon-7b-support:0.1.0"
    assert env["REGISTRY_CONFIG"]["value"] == "/etc/modelsync/push-secret/config.json"
    assert mounts_of(push)["/mnt/output"]["readOnly"] is True
    volumes = volumes_of(spec)
    assert volumes["output"]["emptyDir"] == {}
    assert volumes["push-secret"]["secret"] == {
        "secretName": "acr-push",
        "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
    }
    assert configmap_text(out, "push.sh") == (SCRIPTS / "push.sh").read_text()


def test_push_without_a_secret_is_anonymous() -> None:
    spec = job_pod(rendered("image-input"))
    assert "REGISTRY_CONFIG" not in env_of(container(spec, "push"))
    assert "push-secret" not in volumes_of(spec)


# --- GPUs, shm, security, labels ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "gpus", "shm"), [("lora-urls", 1, "1Gi"), ("qlora-volume", 2, "16Gi")]
)
def test_gpus_and_shm_go_to_the_trainer(name: str, gpus: int, shm: str) -> None:
    spec = job_pod(rendered(name))
    for item in all_containers(spec):
        resources = item["resources"]
        has_gpu = "nvidia.com/gpu" in resources.get("limits", {})
        assert has_gpu == (item["name"] == "trainer"), item["name"]
    trainer = container(spec, "trainer")["resources"]
    assert trainer["requests"]["nvidia.com/gpu"] == trainer["limits"]["nvidia.com/gpu"] == gpus
    assert volumes_of(spec)["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": shm}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]


def test_pool_and_workspace_scheduling() -> None:
    spec = job_pod(rendered("qlora-volume"))
    assert spec["nodeSelector"] == {"modelsync.dev/pool": "a10"}
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {
            "key": "kubernetes.azure.com/scalesetpriority",
            "operator": "Equal",
            "value": "spot",
            "effect": "NoSchedule",
        },
    ]


def test_gated_base_model_token_is_a_secret_reference() -> None:
    trainer = container(job_pod(rendered("qlora-volume")), "trainer")
    assert env_of(trainer)["HF_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}
    }


@pytest.mark.parametrize("name", ["lora-urls", "oci-output", "image-input"])
def test_every_container_is_locked_down(name: str) -> None:
    spec = job_pod(rendered(name))
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    assert_locked_down(spec)


def test_every_path_the_trainer_writes_is_a_writable_volume() -> None:
    trainer = container(job_pod(rendered()), "trainer")
    writable = [m["mountPath"] for m in trainer["volumeMounts"] if not m.get("readOnly")]
    paths = {
        name: entry["value"]
        for name, entry in env_of(trainer).items()
        if name.endswith(("_HOME", "_DIR", "_PATH", "_CACHE")) or name in ("HOME", "TMPDIR")
    }
    assert {"HOME", "HF_HOME", "HF_DATASETS_CACHE", "TRITON_CACHE_DIR", "TMPDIR"} <= set(paths)
    for name, path in paths.items():
        assert any(path == m or path.startswith(m + "/") for m in writable), (name, path)
    assert {"/mnt/output", "/dev/shm", "/tmp"} <= set(writable)


def test_objects_carry_the_modelsync_labels() -> None:
    out = rendered()
    for obj in [*out.objects, out.one("Job")["spec"]["template"]]:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "tuning"
        assert labels["app.kubernetes.io/part-of"] == "modelsync"
        assert labels["modelsync.dev/workspace"] == "workspace-tuning-phi-3-5"
        assert labels["modelsync.dev/cluster"] == "prod"


def test_notes_say_where_the_adapter_goes() -> None:
    notes = rendered("oci-output").notes
    assert "logs -f job/" in notes
    assert "-c trainer" in notes
    assert "image: myregistry.azurecr.io/adapters/falcon-7b-support:0.1.0" in notes


# --- bad values -----------------------------------------------------------------------


def test_there_is_no_default_model_input_or_output() -> None:
    with pytest.raises(helm_python.HelmValuesError) as refused:
        chart(CHART).validate_schema(None)
    message = str(refused.value)
    for key in ("'/model/huggingFaceId'", "'/input'", "'/output'"):
        assert key in message


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"resources": {"gpus": -2}}, "at '/resources/gpus': minimum: got -2, want 0"),
        ({"epochs": 3}, "additional properties 'epochs' not allowed"),
        ({"job": {"backofLimit": 3}}, "at '/job': additional properties 'backofLimit'"),
        ({"trainingConfig": {"LoRAConfig": {}}}, "at '/trainingConfig': additional properties"),
        ({"method": "dora"}, "at '/method'"),
        ({"input": {"urls": []}}, "at '/input': 'oneOf' failed"),
        (
            {"input": {"urls": ["https://x.test/a"], "image": "r/data:1"}},
            "at '/input': 'oneOf' failed",
        ),
        ({"input": {"urls": ["ftp://x.test/a"]}}, "at '/input/urls/0'"),
        ({"output": {"volumeSource": {}}}, "at '/output': 'oneOf' failed"),
        (
            {"output": {"image": "r/a:1", "volumeSource": {"emptyDir": {}}}},
            "at '/output': 'oneOf' failed",
        ),
        ({"output": {"image": "r/a:1", "pushSecret": "x"}}, "at '/output': additional properties"),
        ({"input": {"volumeSource": {"emptyDir": {}, "hostPath": {"path": "/"}}}}, "at '/input"),
    ],
)
def test_bad_values_are_refused_naming_the_key(bad: dict[str, Any], message: str) -> None:
    base = values()
    # Replace whole sections where the test is about them, so only `bad` is wrong.
    merged = with_values(base, **bad)
    for key in ("input", "output"):
        if key in bad:
            merged[key] = bad[key]
    with pytest.raises(helm_python.HelmValuesError) as refused:
        chart(CHART).validate_schema(merged)
    assert message in str(refused.value)


# --- the staging and push scripts, run with stand-ins for curl and oras ---------------


def stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def run_script(script: str, env: dict[str, str], bin_dir: Path) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(
        ["sh", str(SCRIPTS / script)], env=full_env, capture_output=True, text=True, check=False
    )


def test_download_names_files_after_their_urls(tmp_path: Path) -> None:
    bin_dir, data = tmp_path / "bin", tmp_path / "data"
    bin_dir.mkdir()
    data.mkdir()
    # curl stand-in: writes the URL into the --output file.
    stub(
        bin_dir,
        "curl",
        'out=""; while [ $# -gt 1 ]; do [ "$1" = --output ] && out=$2; shift; done\n'
        'printf %s "$1" > "$out"\n',
    )
    urls = "https://h.test/d/train.jsonl?download=true https://h.test/e/train.jsonl https://h.test/"
    result = run_script(
        "download.sh", {"DATA_URLS": urls, "DATA_DIR": str(data), "RETRIES": "5"}, bin_dir
    )
    assert result.returncode == 0, result.stderr
    files = {p.name: p.read_text() for p in data.iterdir()}
    assert files == {
        "train.jsonl": "https://h.test/d/train.jsonl?download=true",
        "2-train.jsonl": "https://h.test/e/train.jsonl",
        "input-3": "https://h.test/",
    }


def adapter_output(root: Path, *, complete: bool = True) -> Path:
    output = root / "output"
    (output / "checkpoints" / "checkpoint-100").mkdir(parents=True)
    (output / "checkpoints" / "checkpoint-100" / "optimizer.pt").write_bytes(b"x" * 64)
    (output / "adapter_config.json").write_text('{"r": 8}')
    (output / "adapter_model.safetensors").write_bytes(b"\x00weights")
    if complete:
        (output / ".modelsync-complete").write_text('{"ok": true}')
    return output


def push_env(output: Path, tmp_path: Path) -> dict[str, str]:
    return {
        "OUTPUT_DIR": str(output),
        "IMAGE": "registry.test/adapters/phi:1",
        "WORKSPACE": "tune-phi",
        "MODEL_PRESET": "phi-3.5-mini-instruct",
        "RETRIES": "1",
        "REGISTRY_CONFIG": "/etc/modelsync/push-secret/config.json",
        "TMPDIR": str(tmp_path / "tmp"),
    }


def test_push_builds_a_kaito_adapter_image(tmp_path: Path) -> None:
    bin_dir, seen = tmp_path / "bin", tmp_path / "seen"
    for d in (bin_dir, seen, tmp_path / "tmp"):
        d.mkdir()
    # oras stand-in: records its arguments and the files it was asked to push.
    stub(
        bin_dir, "oras", f'printf "%s\\n" "$@" > {seen}/args\ncp layer.tar.gz config.json {seen}/\n'
    )
    output = adapter_output(tmp_path)
    result = run_script("push.sh", push_env(output, tmp_path), bin_dir)
    assert result.returncode == 0, result.stderr

    args = (seen / "args").read_text().splitlines()
    assert args[:2] == ["push", "registry.test/adapters/phi:1"]
    assert "config.json:application/vnd.oci.image.config.v1+json" in args
    assert args[-1] == "layer.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip"
    assert args[args.index("--registry-config") + 1] == "/etc/modelsync/push-secret/config.json"
    assert "sh.kaito.model.name=phi-3.5-mini-instruct" in args

    layer = gzip.decompress((seen / "layer.tar.gz").read_bytes())
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
    assert names == ["data/adapter_config.json", "data/adapter_model.safetensors"]
    config = json.loads((seen / "config.json").read_text())
    # containerd unpacks the layer only when the config names its uncompressed digest.
    assert config == {
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]}
    }


def test_push_refuses_an_unfinished_training(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    for d in (bin_dir, tmp_path / "tmp"):
        d.mkdir()
    stub(bin_dir, "oras", f"touch {tmp_path}/called\n")
    output = adapter_output(tmp_path, complete=False)
    result = run_script("push.sh", push_env(output, tmp_path), bin_dir)
    assert result.returncode == 1
    assert ".modelsync-complete is missing" in result.stderr
    assert not (tmp_path / "called").exists()
