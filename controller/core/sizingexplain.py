"""The arithmetic behind a sizing, as ``modelsync validate --explain`` and
``modelsync presets explain`` print it: one line per term of sizing.py's formulas.
"""

from __future__ import annotations

from controller.core.catalog import Architecture, Preset
from controller.core.sizing import (
    OPTIMIZER_BYTES_PER_PARAM,
    InferenceSizing,
    TuningSizing,
    gib,
    kv_bytes_per_token,
)


def explain_inference(preset: Preset, pool: str, gpu: str, s: InferenceSizing) -> list[str]:
    """The arithmetic behind an inference sizing, one line per term."""
    arch = preset.architecture
    t = s.tensor_parallel
    heads = max(1, arch.kv_heads // t)
    share = s.budget_per_gpu_bytes / s.gpu_memory_bytes
    p = s.pipeline_parallel
    split = f"TP {t} x PP {p}" if p > 1 else f"TP {t}"
    lines = [
        f"{preset.name} on pool {pool} ({gpu}, {gib(s.gpu_memory_bytes)} per GPU)",
        f"  budget per GPU      {gib(s.gpu_memory_bytes)} x {share:.2f}"
        f" gpu-memory-utilization = {gib(s.budget_per_gpu_bytes)}",
        f"  weights per GPU     {gib(preset.weight_bytes)} / {split}"
        f" = {gib(s.weights_per_gpu_bytes)}",
        _kv_line(arch, heads, kv_bytes_per_token(arch, t)),
    ]
    if p > 1:
        lines.append(
            f"  KV per token/GPU    {kv_bytes_per_token(arch, t):,} B / PP {p} (each stage"
            f" caches {arch.layers} / {p} layers) = {s.kv_per_token_bytes:,} B"
        )
    where = f"{p} nodes x {t} = {t * p} GPUs" if p > 1 else f"{t} GPU(s)"
    lines += [
        f"  KV cache per GPU    {s.kv_per_token_bytes:,} B x {s.max_model_len:,} tokens x "
        f"{s.sequences} sequence(s) = {gib(s.kv_per_gpu_bytes)}",
        f"  runtime reserve     {gib(s.reserve_bytes)}",
        f"  need per GPU        {gib(s.need_per_gpu_bytes)} of {gib(s.budget_per_gpu_bytes)}"
        f" -> {'fits' if s.fits else 'does NOT fit'} with {where}",
    ]
    if p > 1:
        lines.append(
            f"  multi-node group    one LeaderWorkerSet of {p} pods, one per node: vLLM"
            f" --tensor-parallel-size {t} --pipeline-parallel-size {p} over Ray"
        )
    if s.capped:
        lines.append(
            f"  max model length    capped from {s.requested_max_model_len:,} to "
            f"{s.max_model_len:,} tokens to fit (set modelsync.dev/max-model-len to choose)"
        )
    if s.reason:
        lines.append(f"  {s.reason}")
    return lines


def _kv_line(arch: Architecture, heads: int, per_token: int) -> str:
    if arch.kv_lora_rank is not None:
        return (
            f"  KV cache per token  {arch.layers} layers x ({arch.kv_lora_rank} latent +"
            f" {arch.qk_rope_head_dim or 0} rope) x 2 B = {per_token:,} B (latent attention)"
        )
    return (
        f"  KV cache per token  2 x {arch.layers} layers x {heads} KV heads/GPU x {arch.head_dim}"
        f" head dim x 2 B = {per_token:,} B"
    )


def explain_tuning(preset: Preset, pool: str, gpu: str, method: str, s: TuningSizing) -> list[str]:
    return [
        f"{preset.name} {method} tuning on pool {pool} ({gpu}, {gib(s.gpu_memory_bytes)} per GPU)",
        f"  base weights        {gib(s.base_weights_bytes)}"
        f" ({'NF4 4-bit' if method == 'qlora' else 'bf16'})",
        f"  LoRA parameters     {s.trainable_parameters:,} x {OPTIMIZER_BYTES_PER_PARAM} B"
        f" = {gib(s.optimizer_bytes)}",
        f"  activations+logits  {gib(s.activation_bytes)}",
        f"  total               {gib(s.total_bytes)} over {gib(s.budget_per_gpu_bytes)} per GPU"
        f" -> {s.gpus} GPU(s){'' if s.fits else ' (does NOT fit)'}",
    ]
