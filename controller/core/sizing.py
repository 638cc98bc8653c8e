"""GPU sizing: how many GPUs, which tensor-parallel size and what max model length.

Pure arithmetic over preset figures and a pool's GPU; docs/sizing.md derives every term.

Inference (vLLM), per GPU at tensor-parallel size ``t``::

    need(t, L) = weights / t                                  # weights are sharded
               + kv_per_token(t) * L * sequences              # KV cache
               + reserve                                      # CUDA context, graphs, activations
    kv_per_token(t) = 2 (K and V) * layers * max(1, kv_heads / t) * head_dim * kv_bytes
    budget = gpu_memory * gpu_memory_utilization

``t`` must divide the attention heads, and the KV heads must divide ``t`` or ``t`` them
(vLLM's rule). The smallest ``t`` that fits wins. When the Workspace sets no max model
length, the model's whole context is tried first; if no ``t`` fits it, the length is cut to
what the smallest fitting ``t`` holds, never below ``MIN_AUTO_LEN``.

Tuning (PEFT), the whole model on ``g`` GPUs of one node (``device_map="auto"``)::

    need = base weights (bf16, or NF4 for QLoRA) + LoRA parameters x 16 B (fp32 weight,
           gradient, two Adam moments) + activations (gradient checkpointing) + logits
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.core.catalog import GIB, Architecture, Preset

#: Per-GPU memory vLLM uses outside weights and KV cache: CUDA context and library
#: workspaces (~0.5-1 GiB), captured CUDA graphs (~0.5-1 GiB) and the activation peak of
#: its profiling run. See docs/sizing.md.
INFERENCE_RESERVE_BYTES = 2 * GIB
#: Per-GPU CUDA context and allocator slack for a training process.
TUNING_RESERVE_BYTES = 1 * GIB
#: The share of a GPU a training process can fill before the allocator fragments.
TUNING_UTILIZATION = 0.9
#: An automatically capped max model length never goes below this.
MIN_AUTO_LEN = 2048
#: Capped lengths are rounded down to a multiple of this.
LEN_STEP = 1024
#: Bytes per parameter of NF4 with double quantisation (4.127 bits, QLoRA paper, 2.1).
NF4_BYTES_PER_PARAM = 4.127 / 8
#: Bytes per trainable parameter: fp32 weight + fp32 gradient + Adam's two fp32 moments.
OPTIMIZER_BYTES_PER_PARAM = 16
#: Activation bytes per token and hidden unit of one transformer layer with 16-bit
#: activations and fused attention: 34 (Korthikanti et al. 2022, arXiv:2205.05198, eq. 1
#: without the attention-score term that SDPA/flash attention never stores).
ACTIVATION_BYTES_PER_TOKEN_HIDDEN = 34


@dataclass(frozen=True, slots=True)
class InferenceSizing:
    fits: bool
    gpu_memory_bytes: int
    budget_per_gpu_bytes: int
    tensor_parallel: int
    max_model_len: int
    requested_max_model_len: int
    sequences: int
    weights_per_gpu_bytes: int
    kv_per_token_bytes: int
    kv_per_gpu_bytes: int
    reserve_bytes: int
    reason: str = ""

    @property
    def need_per_gpu_bytes(self) -> int:
        return self.weights_per_gpu_bytes + self.kv_per_gpu_bytes + self.reserve_bytes

    @property
    def gpus(self) -> int:
        return self.tensor_parallel

    @property
    def capped(self) -> bool:
        return self.max_model_len < self.requested_max_model_len


@dataclass(frozen=True, slots=True)
class TuningSizing:
    fits: bool
    gpus: int
    gpu_memory_bytes: int
    budget_per_gpu_bytes: int
    base_weights_bytes: int
    trainable_parameters: int
    optimizer_bytes: int
    activation_bytes: int
    total_bytes: int
    reason: str = ""


def kv_bytes_per_token(arch: Architecture, tensor_parallel: int = 1, dtype_bytes: int = 2) -> int:
    """KV-cache bytes one token occupies on one GPU at the given tensor-parallel size.

    Multi-head latent attention caches ``kv_lora_rank + qk_rope_head_dim`` values per layer
    (no separate K and V, no per-head copies), and vLLM keeps that latent whole on every
    tensor-parallel rank, so it does not shrink with ``tensor_parallel``.
    """
    if arch.kv_lora_rank is not None:
        return arch.layers * (arch.kv_lora_rank + (arch.qk_rope_head_dim or 0)) * dtype_bytes
    heads_per_gpu = max(1, arch.kv_heads // tensor_parallel)
    return 2 * arch.layers * heads_per_gpu * arch.head_dim * dtype_bytes


def tensor_parallel_sizes(arch: Architecture, gpus_per_node: int) -> list[int]:
    """Tensor-parallel sizes vLLM accepts for this model within one node, smallest first."""
    return [
        t
        for t in range(1, gpus_per_node + 1)
        if arch.attention_heads % t == 0 and (arch.kv_heads % t == 0 or t % arch.kv_heads == 0)
    ]


def size_inference(
    preset: Preset,
    *,
    gpu_memory_gib: float,
    gpus_per_node: int,
    gpu_memory_utilization: float,
    max_model_len: int | None = None,
    max_len_cap: int | None = None,
    sequences: int = 1,
) -> InferenceSizing:
    """Smallest tensor-parallel size (and the max model length) that serves ``preset``.

    ``max_model_len`` is the Workspace's explicit length (must fit as is); without it the
    model's context length, capped by ``max_len_cap`` (the cluster default), is tried and
    cut down to what fits if needed.
    """
    arch = preset.architecture
    memory = int(gpu_memory_gib * GIB)
    budget = int(memory * gpu_memory_utilization)
    requested = max_model_len or min(preset.context_length, max_len_cap or preset.context_length)
    sizes = tensor_parallel_sizes(arch, gpus_per_node)

    def sizing(t: int, length: int, fits: bool, reason: str = "") -> InferenceSizing:
        per_token = kv_bytes_per_token(arch, t)
        return InferenceSizing(
            fits=fits,
            gpu_memory_bytes=memory,
            budget_per_gpu_bytes=budget,
            tensor_parallel=t,
            max_model_len=length,
            requested_max_model_len=requested,
            sequences=sequences,
            weights_per_gpu_bytes=math.ceil(preset.weight_bytes / t),
            kv_per_token_bytes=per_token,
            kv_per_gpu_bytes=per_token * length * sequences,
            reserve_bytes=INFERENCE_RESERVE_BYTES,
            reason=reason,
        )

    if not sizes:
        return sizing(
            1,
            requested,
            False,
            f"no tensor-parallel size up to {gpus_per_node} "
            f"divides the model's {arch.attention_heads} attention heads",
        )
    for t in sizes:
        candidate = sizing(t, requested, True)
        if candidate.need_per_gpu_bytes <= budget:
            return candidate
    if max_model_len is None:
        floor = min(MIN_AUTO_LEN, requested)
        for t in sizes:
            fitting = _longest_fitting_len(preset, t, budget, sequences)
            if fitting >= floor:
                return sizing(t, min(requested, fitting), True)
    largest = sizes[-1]
    worst = sizing(largest, requested, False)
    return sizing(
        largest,
        requested,
        False,
        f"needs more than {gpus_per_node} GPU(s) of {gpu_memory_gib:g} GiB: even at "
        f"tensor-parallel {largest} a GPU needs {_gib(worst.need_per_gpu_bytes)}"
        f" of a {_gib(budget)} budget",
    )


def _longest_fitting_len(preset: Preset, t: int, budget: int, sequences: int) -> int:
    free = budget - math.ceil(preset.weight_bytes / t) - INFERENCE_RESERVE_BYTES
    if free <= 0:
        return 0
    tokens = free // (kv_bytes_per_token(preset.architecture, t) * sequences)
    return int(tokens // LEN_STEP * LEN_STEP)


def lora_trainable_parameters(
    arch: Architecture, target_modules: tuple[str, ...], rank: int
) -> int:
    """Parameters LoRA adds: r x (in + out) per targeted projection per layer."""
    h = arch.hidden_size
    q = arch.attention_heads * arch.head_dim
    kv = arch.kv_heads * arch.head_dim
    ffn = arch.intermediate_size or 4 * h
    dims = {
        "q_proj": h + q,
        "k_proj": h + kv,
        "v_proj": h + kv,
        "o_proj": q + h,
        "qkv_proj": h + q + 2 * kv,
        "query_key_value": h + q + 2 * kv,
        "dense": q + h,
        "gate_proj": h + ffn,
        "up_proj": h + ffn,
        "down_proj": ffn + h,
        "gate_up_proj": h + 2 * ffn,
        "dense_h_to_4h": h + ffn,
        "dense_4h_to_h": ffn + h,
    }
    return arch.layers * rank * sum(dims.get(name, 2 * h) for name in target_modules)


def size_tuning(
    preset: Preset,
    *,
    method: str,
    gpu_memory_gib: float,
    gpus_per_node: int,
    rank: int = 8,
    target_modules: tuple[str, ...] | None = None,
    batch_size: int = 1,
    seq_len: int = 2048,
) -> TuningSizing:
    """GPUs of one node a LoRA/QLoRA run needs (the model split across them by layers)."""
    arch = preset.architecture
    if method == "qlora":
        embeddings = 2 * arch.vocab_size * arch.hidden_size * 2  # input and output, kept bf16
        base = math.ceil(preset.parameters * NF4_BYTES_PER_PARAM) + embeddings
    else:
        base = preset.parameters * 2  # loaded in bf16 whatever the file dtype
    trainable = lora_trainable_parameters(arch, target_modules or preset.target_modules, rank)
    optimizer = trainable * OPTIMIZER_BYTES_PER_PARAM
    tokens = batch_size * seq_len
    activations = (
        arch.layers * 2 * tokens * arch.hidden_size  # checkpointed layer inputs
        + ACTIVATION_BYTES_PER_TOKEN_HIDDEN * tokens * arch.hidden_size  # one layer recomputed
        + 2 * tokens * arch.vocab_size * 4  # fp32 logits and their gradient
    )
    total = base + optimizer + activations
    memory = int(gpu_memory_gib * GIB)
    budget = int(memory * TUNING_UTILIZATION) - TUNING_RESERVE_BYTES
    gpus = max(1, math.ceil(total / budget))
    fits = gpus <= gpus_per_node
    reason = (
        ""
        if fits
        else (
            f"needs {_gib(total)} in all, {gpus} GPU(s) of {gpu_memory_gib:g} GiB, but a node has "
            f"{gpus_per_node}"
        )
    )
    return TuningSizing(
        fits=fits,
        gpus=min(gpus, gpus_per_node) if fits else gpus,
        gpu_memory_bytes=memory,
        budget_per_gpu_bytes=budget,
        base_weights_bytes=base,
        trainable_parameters=trainable,
        optimizer_bytes=optimizer,
        activation_bytes=activations,
        total_bytes=total,
        reason=reason,
    )


def kaito_estimate(preset: Preset, *, gpu_memory_gib: float, max_model_len: int) -> int:
    """GPUs KAITO's estimator asks for: (weights x 1.02 + 2.3 GiB + KV x length) / (0.84 x GPU)."""
    need = (
        preset.weight_bytes * 1.02
        + 2.3 * GIB
        + kv_bytes_per_token(preset.architecture) * max_model_len
    )
    return max(1, math.ceil(need / (0.84 * gpu_memory_gib * GIB)))


def _gib(value: float) -> str:
    return f"{value / GIB:.2f} GiB"


def explain_inference(preset: Preset, pool: str, gpu: str, s: InferenceSizing) -> list[str]:
    """The arithmetic behind an inference sizing, one line per term."""
    arch = preset.architecture
    t = s.tensor_parallel
    heads = max(1, arch.kv_heads // t)
    share = s.budget_per_gpu_bytes / s.gpu_memory_bytes
    lines = [
        f"{preset.name} on pool {pool} ({gpu}, {_gib(s.gpu_memory_bytes)} per GPU)",
        f"  budget per GPU      {_gib(s.gpu_memory_bytes)} x {share:.2f}"
        f" gpu-memory-utilization = {_gib(s.budget_per_gpu_bytes)}",
        f"  weights per GPU     {_gib(preset.weight_bytes)} / TP {t}"
        f" = {_gib(s.weights_per_gpu_bytes)}",
        _kv_line(arch, heads, s.kv_per_token_bytes),
        f"  KV cache per GPU    {s.kv_per_token_bytes:,} B x {s.max_model_len:,} tokens x "
        f"{s.sequences} sequence(s) = {_gib(s.kv_per_gpu_bytes)}",
        f"  runtime reserve     {_gib(s.reserve_bytes)}",
        f"  need per GPU        {_gib(s.need_per_gpu_bytes)} of {_gib(s.budget_per_gpu_bytes)}"
        f" -> {'fits' if s.fits else 'does NOT fit'} with {t} GPU(s)",
    ]
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
        f"{preset.name} {method} tuning on pool {pool} ({gpu}, {_gib(s.gpu_memory_bytes)} per GPU)",
        f"  base weights        {_gib(s.base_weights_bytes)}"
        f" ({'NF4 4-bit' if method == 'qlora' else 'bf16'})",
        f"  LoRA parameters     {s.trainable_parameters:,} x {OPTIMIZER_BYTES_PER_PARAM} B"
        f" = {_gib(s.optimizer_bytes)}",
        f"  activations+logits  {_gib(s.activation_bytes)}",
        f"  total               {_gib(s.total_bytes)} over {_gib(s.budget_per_gpu_bytes)} per GPU"
        f" -> {s.gpus} GPU(s){'' if s.fits else ' (does NOT fit)'}",
    ]
