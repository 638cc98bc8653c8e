"""GPU sizing: how many GPUs, which tensor-parallel size and what max model length.

Pure arithmetic over preset figures and a pool's GPU; docs/sizing.md derives every term.

Inference (vLLM), per GPU at tensor-parallel size ``t``::

    need(t, L) = weights / t                                  # weights are sharded
               + kv_per_token(t) * L * sequences              # KV cache
               + reserve                                      # CUDA context, graphs, activations
    kv_per_token(t) = 2 (K and V) * layers * max(1, kv_heads / t) * head_dim * kv_bytes
    budget = gpu_memory * gpu_memory_utilization

``t`` must divide the attention heads, and the KV heads must divide ``t`` or ``t`` them
(vLLM's rule). The smallest ``t`` that fits wins.

A model no tensor-parallel size of one node holds is served by a group of ``p`` nodes
(multi-node): ``t`` = the GPUs of a node, pipeline-parallel size ``p`` = the nodes (vLLM's
recommended layout), so weights are split over ``t x p`` GPUs and each GPU caches the KV of
its stage's ``layers / p`` layers (``size_group``). When the Workspace sets no max model
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
    #: Nodes of a multi-node group (vLLM's pipeline-parallel size); 1 on one node.
    pipeline_parallel: int = 1

    @property
    def need_per_gpu_bytes(self) -> int:
        return self.weights_per_gpu_bytes + self.kv_per_gpu_bytes + self.reserve_bytes

    @property
    def gpus(self) -> int:
        """GPUs of one server: of one node, or of the whole multi-node group."""
        return self.tensor_parallel * self.pipeline_parallel

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
    nodes: int = 1,
) -> InferenceSizing:
    """Smallest tensor-parallel size (and the max model length) that serves ``preset``.

    ``max_model_len`` is the Workspace's explicit length (must fit as is); without it the
    model's context length, capped by ``max_len_cap`` (the cluster default), is tried and
    cut down to what fits if needed. ``nodes`` > 1 sizes a multi-node group: the only
    tensor-parallel size tried is the node's GPU count, and ``nodes`` pipeline stages.
    """
    arch = preset.architecture
    memory = int(gpu_memory_gib * GIB)
    budget = int(memory * gpu_memory_utilization)
    requested = max_model_len or min(preset.context_length, max_len_cap or preset.context_length)
    sizes = tensor_parallel_sizes(arch, gpus_per_node)
    if nodes > 1:
        sizes = [t for t in sizes if t == gpus_per_node]

    def sizing(t: int, length: int, fits: bool, reason: str = "") -> InferenceSizing:
        per_token = kv_per_gpu_token(arch, t, nodes)
        return InferenceSizing(
            fits=fits,
            gpu_memory_bytes=memory,
            budget_per_gpu_bytes=budget,
            tensor_parallel=t,
            max_model_len=length,
            requested_max_model_len=requested,
            sequences=sequences,
            weights_per_gpu_bytes=math.ceil(preset.weight_bytes / (t * nodes)),
            kv_per_token_bytes=per_token,
            kv_per_gpu_bytes=per_token * length * sequences,
            reserve_bytes=INFERENCE_RESERVE_BYTES,
            reason=reason,
            pipeline_parallel=nodes,
        )

    if not sizes:
        upto = f"of {gpus_per_node}" if nodes > 1 else f"up to {gpus_per_node}"
        return sizing(
            1,
            requested,
            False,
            f"no tensor-parallel size {upto} "
            f"divides the model's {arch.attention_heads} attention heads",
        )
    for t in sizes:
        candidate = sizing(t, requested, True)
        if candidate.need_per_gpu_bytes <= budget:
            return candidate
    if max_model_len is None:
        floor = min(MIN_AUTO_LEN, requested)
        for t in sizes:
            fitting = _longest_fitting_len(preset, t, budget, sequences, nodes)
            if fitting >= floor:
                return sizing(t, min(requested, fitting), True)
    largest = sizes[-1]
    worst = sizing(largest, requested, False)
    where = f"{nodes} nodes x {gpus_per_node}" if nodes > 1 else str(gpus_per_node)
    return sizing(
        largest,
        requested,
        False,
        f"needs more than {where} GPU(s) of {gpu_memory_gib:g} GiB: even at "
        f"tensor-parallel {largest} a GPU needs {gib(worst.need_per_gpu_bytes)}"
        f" of a {gib(budget)} budget",
    )


#: The largest multi-node group ``size_group`` looks for (KAITO's examples use 6 nodes).
MAX_GROUP_NODES = 64


def size_group(
    preset: Preset,
    *,
    gpu_memory_gib: float,
    gpus_per_node: int,
    gpu_memory_utilization: float,
    max_model_len: int | None = None,
    max_len_cap: int | None = None,
    sequences: int = 1,
    nodes: int = 1,
) -> tuple[InferenceSizing | None, int]:
    """A multi-node group for a model no single node holds: its sizing over ``nodes`` nodes
    and the fewest nodes that hold it (0 when no group up to ``MAX_GROUP_NODES`` does).

    The sizing is None when ``nodes`` is below that minimum.
    """

    def over(p: int) -> InferenceSizing:
        return size_inference(
            preset,
            gpu_memory_gib=gpu_memory_gib,
            gpus_per_node=gpus_per_node,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            max_len_cap=max_len_cap,
            sequences=sequences,
            nodes=p,
        )

    minimum = next((p for p in range(2, MAX_GROUP_NODES + 1) if over(p).fits), 0)
    if not minimum or nodes < minimum:
        return None, minimum
    return over(nodes), minimum


def kv_per_gpu_token(arch: Architecture, tensor_parallel: int, nodes: int = 1) -> int:
    """KV bytes per token on one GPU: a pipeline stage caches only its share of the layers."""
    return math.ceil(kv_bytes_per_token(arch, tensor_parallel) / nodes)


def _longest_fitting_len(
    preset: Preset, t: int, budget: int, sequences: int, nodes: int = 1
) -> int:
    free = budget - math.ceil(preset.weight_bytes / (t * nodes)) - INFERENCE_RESERVE_BYTES
    if free <= 0:
        return 0
    tokens = free // (kv_per_gpu_token(preset.architecture, t, nodes) * sequences)
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
            f"needs {gib(total)} in all, {gpus} GPU(s) of {gpu_memory_gib:g} GiB, but a node has "
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


def gib(value: float) -> str:
    """Bytes as GiB with two decimals, the way findings and ``--explain`` print sizes."""
    return f"{value / GIB:.2f} GiB"
