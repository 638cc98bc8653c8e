"""GPU sizing arithmetic, on synthetic presets with round numbers and on real ones."""

from __future__ import annotations

import dataclasses

import pytest

from controller.adapters.bundled import Bundle
from controller.core.catalog import GIB, Architecture, Preset
from controller.core.sizing import (
    INFERENCE_RESERVE_BYTES,
    kaito_estimate,
    kv_bytes_per_token,
    lora_trainable_parameters,
    size_inference,
    size_tuning,
    tensor_parallel_sizes,
)

LLAMA_8B = Architecture(
    type="LlamaForCausalLM",
    layers=32,
    hidden_size=4096,
    attention_heads=32,
    kv_heads=8,
    head_dim=128,
    vocab_size=128256,
    intermediate_size=14336,
)


def preset(weight_gib: float, arch: Architecture = LLAMA_8B, context: int = 131072) -> Preset:
    return Preset(
        name="test",
        family="test",
        huggingface_id="x/y",
        revision="0" * 40,
        parameters=int(weight_gib * GIB / 2),
        weight_bytes=int(weight_gib * GIB),
        dtype="bfloat16",
        license="mit",
        gated=False,
        context_length=context,
        architecture=arch,
        vllm_supported=True,
        vllm_extra_args=(),
        tuning_methods=frozenset({"lora", "qlora"}),
        target_modules=("q_proj", "v_proj"),
    )


def test_kv_cache_bytes_per_token_follow_the_formula() -> None:
    assert kv_bytes_per_token(LLAMA_8B) == 2 * 32 * 8 * 128 * 2 == 131_072
    assert kv_bytes_per_token(LLAMA_8B, tensor_parallel=4) == 131_072 // 4
    # More GPUs than KV heads: vLLM replicates a head per GPU, it does not split further.
    assert kv_bytes_per_token(LLAMA_8B, tensor_parallel=16) == 2 * 32 * 1 * 128 * 2


DEEPSEEK_V3 = Architecture(
    type="DeepseekV3ForCausalLM",
    layers=61,
    hidden_size=7168,
    attention_heads=128,
    kv_heads=128,
    head_dim=192,
    vocab_size=129280,
    kv_lora_rank=512,
    qk_rope_head_dim=64,
)


def test_latent_attention_caches_one_latent_per_layer_on_every_gpu() -> None:
    # KAITO's generator gives DeepSeek-R1 and Mistral Large 3 70,272 bytes per token.
    assert kv_bytes_per_token(DEEPSEEK_V3) == 61 * (512 + 64) * 2 == 70_272
    assert kv_bytes_per_token(DEEPSEEK_V3, tensor_parallel=8) == 70_272
    # The per-head formula would count 2 x 61 x 128 x 192 x 2 = 5,996,544 bytes: 85 times more.
    plain = dataclasses.replace(DEEPSEEK_V3, kv_lora_rank=None, qk_rope_head_dim=None)
    assert kv_bytes_per_token(plain) == 5_996_544


def test_tensor_parallel_sizes_divide_the_heads() -> None:
    qwen_7b = dataclasses.replace(LLAMA_8B, attention_heads=28, kv_heads=4)
    assert tensor_parallel_sizes(qwen_7b, 8) == [1, 2, 4]
    assert tensor_parallel_sizes(LLAMA_8B, 8) == [1, 2, 4, 8]
    odd = dataclasses.replace(LLAMA_8B, attention_heads=40, kv_heads=8)
    assert tensor_parallel_sizes(odd, 8) == [1, 2, 4, 8]
    assert tensor_parallel_sizes(
        dataclasses.replace(LLAMA_8B, attention_heads=25, kv_heads=5), 8
    ) == [1, 5]


def test_the_smallest_tensor_parallel_size_that_fits_wins() -> None:
    # 100 GiB of weights on 80 GiB GPUs at 0.9: 2 GPUs hold 50 GiB each plus 4 GiB of KV.
    sizing = size_inference(
        preset(100),
        gpu_memory_gib=80,
        gpus_per_node=8,
        gpu_memory_utilization=0.9,
        max_model_len=65536,
    )
    assert sizing.fits
    assert sizing.tensor_parallel == 2
    assert sizing.weights_per_gpu_bytes == 50 * GIB
    assert sizing.kv_per_gpu_bytes == 65536 * 131_072 // 2
    assert sizing.need_per_gpu_bytes == 50 * GIB + 4 * GIB + INFERENCE_RESERVE_BYTES


def test_an_explicit_length_that_cannot_fit_is_refused_with_the_numbers() -> None:
    sizing = size_inference(
        preset(15),
        gpu_memory_gib=24,
        gpus_per_node=1,
        gpu_memory_utilization=0.9,
        max_model_len=131072,
    )
    assert not sizing.fits
    assert "needs more than 1 GPU(s) of 24 GiB" in sizing.reason


def test_without_an_explicit_length_the_context_is_capped_to_fit() -> None:
    sizing = size_inference(
        preset(15), gpu_memory_gib=24, gpus_per_node=1, gpu_memory_utilization=0.9
    )
    assert sizing.fits
    assert sizing.capped
    # (24 x 0.9 - 15 - 2) GiB / 128 KiB per token = 37,683 tokens, rounded down to 1,024s.
    assert sizing.max_model_len == 36864
    assert sizing.need_per_gpu_bytes <= sizing.budget_per_gpu_bytes


def test_the_cluster_cap_applies_before_sizing() -> None:
    sizing = size_inference(
        preset(15), gpu_memory_gib=80, gpus_per_node=1, gpu_memory_utilization=0.9, max_len_cap=8192
    )
    assert (sizing.max_model_len, sizing.capped) == (8192, False)


def test_weights_that_cannot_fit_any_node_do_not_fit() -> None:
    sizing = size_inference(
        preset(700), gpu_memory_gib=80, gpus_per_node=8, gpu_memory_utilization=0.9
    )
    assert not sizing.fits
    assert sizing.tensor_parallel == 8


def test_kaitos_estimator_is_reproduced() -> None:
    # (10 x 1.02 + 2.3 + 131072 B x 8192 / GiB) / (0.84 x 24) = 13.5 / 20.16 -> 1 GPU
    assert kaito_estimate(preset(10), gpu_memory_gib=24, max_model_len=8192) == 1
    # (30 x 1.02 + 2.3 + 1) / 20.16 = 1.68 -> 2 GPUs
    assert kaito_estimate(preset(30), gpu_memory_gib=24, max_model_len=8192) == 2


def test_lora_parameter_count_matches_peft_for_llama_7b() -> None:
    # PEFT prints "trainable params: 4,194,304" for LLaMA-7B, r=8, q_proj and v_proj.
    llama_7b = dataclasses.replace(LLAMA_8B, kv_heads=32, intermediate_size=11008)
    assert lora_trainable_parameters(llama_7b, ("q_proj", "v_proj"), 8) == 4_194_304


def test_qlora_needs_less_memory_than_lora() -> None:
    lora = size_tuning(preset(15), method="lora", gpu_memory_gib=24, gpus_per_node=1)
    qlora = size_tuning(preset(15), method="qlora", gpu_memory_gib=24, gpus_per_node=1)
    # NF4 is a quarter of bf16; the embeddings stay bf16.
    assert qlora.base_weights_bytes < lora.base_weights_bytes / 2
    assert qlora.fits
    assert qlora.total_bytes < lora.total_bytes


def test_tuning_spreads_over_the_gpus_of_one_node() -> None:
    big = size_tuning(preset(80), method="lora", gpu_memory_gib=80, gpus_per_node=8)
    assert big.fits
    assert big.gpus == 2
    too_big = size_tuning(preset(60), method="lora", gpu_memory_gib=24, gpus_per_node=2)
    assert not too_big.fits
    assert "but a node has 2" in too_big.reason


@pytest.mark.parametrize("gpu", ["A10", "A100-80GB", "H100-80GB"])
def test_every_preset_sizes_without_error_on_the_reference_gpus(bundle: Bundle, gpu: str) -> None:
    memory = bundle.catalog.gpus[gpu].memory_gib
    for item in bundle.catalog.presets.values():
        sizing = size_inference(
            item,
            gpu_memory_gib=memory,
            gpus_per_node=8,
            gpu_memory_utilization=0.9,
            max_model_len=min(item.context_length, 8192),
        )
        if sizing.fits:
            assert sizing.need_per_gpu_bytes <= sizing.budget_per_gpu_bytes
            assert item.architecture.attention_heads % sizing.tensor_parallel == 0
