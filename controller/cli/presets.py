"""``modelsync presets list|show NAME|add ORG/MODEL``: the model catalog and how models size."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from controller.adapters.bundled import load_bundle
from controller.adapters.localcatalog import local_catalog, presets_beside
from controller.cli import presets_add
from controller.cli.output import add_output_option, emit, print_table, selected
from controller.core.catalog import GIB, GPU, Catalog, Preset
from controller.core.sizing import InferenceSizing, kaito_estimate, size_inference
from controller.core.sizingexplain import explain_inference

#: GPUs ``presets show`` and the README's sizing table compare on.
REFERENCE_GPUS = ("A10", "A100-80GB", "H100-80GB")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("presets", help="list the model presets or show one")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    listing = verbs.add_parser("list", help="one line per preset")
    add_output_option(listing)
    listing.set_defaults(handler=run_list)
    show = verbs.add_parser("show", help="a preset's figures and its sizing on common GPUs")
    show.add_argument("name")
    add_output_option(show)
    show.set_defaults(handler=run_show)
    table = verbs.add_parser("sizing-table", help="markdown: modelsync vs KAITO's estimator")
    table.add_argument(
        "--max-model-len",
        type=int,
        default=None,
        help="length for both estimates (default: min(context, 8192))",
    )
    table.set_defaults(handler=run_table)
    presets_add.register(verbs)


def repo_catalog() -> Catalog:
    """The bundled catalog plus the presets/ of the clusters repo in the working directory."""
    bundle = load_bundle()
    return local_catalog(bundle, presets_beside(Path("clusters")), Path.cwd()).catalog


def run_list(args: argparse.Namespace) -> int:
    presets = sorted(repo_catalog().presets.values(), key=lambda p: p.name)
    emit([_preset_data(p) for p in presets], selected(args), lambda: _list_table(presets))
    return 0


def _list_table(presets: list[Preset]) -> None:
    print_table(
        ("NAME", "PARAMS", "WEIGHTS", "CONTEXT", "TUNING", "HUGGING FACE"),
        (
            (
                preset.name,
                f"{preset.parameters / 1e9:.1f}B",
                f"{preset.weight_bytes / GIB:.1f} GiB",
                f"{preset.context_length:,}",
                ",".join(sorted(preset.tuning_methods)) or "-",
                preset.huggingface_id,
            )
            for preset in presets
        ),
    )


def _preset_data(preset: Preset) -> dict[str, Any]:
    arch = preset.architecture
    return {
        "name": preset.name,
        "family": preset.family,
        "huggingfaceId": preset.huggingface_id,
        "revision": preset.revision,
        "parameters": preset.parameters,
        "activeParameters": preset.active_parameters,
        "weightBytes": preset.weight_bytes,
        "dtype": preset.dtype,
        "contextLength": preset.context_length,
        "architecture": {
            "type": arch.type,
            "layers": arch.layers,
            "attentionHeads": arch.attention_heads,
            "kvHeads": arch.kv_heads,
            "headDim": arch.head_dim,
            "hiddenSize": arch.hidden_size,
        },
        "license": preset.license,
        "gated": preset.gated,
        "tuningMethods": sorted(preset.tuning_methods),
        "targetModules": list(preset.target_modules),
    }


def run_show(args: argparse.Namespace) -> int:
    catalog = repo_catalog()
    preset = catalog.preset(args.name)
    if preset is None:
        close = catalog.closest_preset(args.name)
        hint = f"; did you mean {close!r}?" if close else ""
        print(f"modelsync presets: unknown preset {args.name!r}{hint}", file=sys.stderr)
        return 2
    gpus = [g for g in (catalog.gpu(n) for n in REFERENCE_GPUS) if g is not None]
    sizings = [(gpu, _reference_sizing(preset, gpu)) for gpu in gpus]
    data = _preset_data(preset) | {
        "sizing": [
            {
                "gpu": gpu.name,
                "fits": s.fits,
                "tensorParallelSize": s.tensor_parallel,
                "maxModelLen": s.max_model_len,
                "needPerGpuBytes": s.need_per_gpu_bytes,
                "budgetPerGpuBytes": s.budget_per_gpu_bytes,
            }
            for gpu, s in sizings
        ]
    }
    emit(data, selected(args), lambda: _show_text(preset, sizings))
    return 0


def _reference_sizing(preset: Preset, gpu: GPU) -> InferenceSizing:
    return size_inference(
        preset, gpu_memory_gib=gpu.memory_gib, gpus_per_node=8, gpu_memory_utilization=0.9
    )


def _show_text(preset: Preset, sizings: list[tuple[GPU, InferenceSizing]]) -> None:
    arch = preset.architecture
    lines = [
        f"{preset.name}  ({preset.family})",
        f"  hugging face   {preset.huggingface_id} @ {preset.revision}",
        f"  parameters     {preset.parameters:,}"
        + (f" ({preset.active_parameters:,} active)" if preset.active_parameters else ""),
        f"  weights        {preset.weight_bytes:,} B ({preset.weight_bytes / GIB:.2f} GiB, "
        f"{preset.dtype})",
        f"  architecture   {arch.type}: {arch.layers} layers, {arch.attention_heads} heads, "
        f"{arch.kv_heads} KV heads, head dim {arch.head_dim}, hidden {arch.hidden_size}",
        f"  context        {preset.context_length:,} tokens",
        f"  license        {preset.license}{' (gated: needs an HF token)' if preset.gated else ''}",
        f"  tuning         {', '.join(sorted(preset.tuning_methods)) or 'not supported'}"
        + (f"; targets {', '.join(preset.target_modules)}" if preset.target_modules else ""),
    ]
    print("\n".join(lines))
    for gpu, sizing in sizings:
        print()
        print("\n".join(explain_inference(preset, f"<8 x {gpu.name}>", gpu.name, sizing)))


def sizing_table(catalog: Catalog, max_model_len: int | None = None) -> str:
    """Markdown table: GPUs per replica by modelsync's sizing and by KAITO's estimator."""
    gpus = [g for g in (catalog.gpu(n) for n in REFERENCE_GPUS) if g is not None]
    header = (
        "| preset | max len | "
        + " | ".join(f"{g.name} modelsync | {g.name} KAITO" for g in gpus)
        + " |"
    )
    rule = "|" + "---|" * (2 + 2 * len(gpus))
    rows = [header, rule]
    for preset in sorted(catalog.presets.values(), key=lambda p: p.name):
        length = max_model_len or min(preset.context_length, 8192)
        cells = [preset.name, f"{length:,}"]
        for gpu in gpus:
            cells.append(_ours(preset, gpu.memory_gib, length))
            cells.append(
                str(kaito_estimate(preset, gpu_memory_gib=gpu.memory_gib, max_model_len=length))
            )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def _ours(preset: Preset, memory: float, length: int) -> str:
    sizing = size_inference(
        preset,
        gpu_memory_gib=memory,
        gpus_per_node=8,
        gpu_memory_utilization=0.9,
        max_model_len=length,
    )
    return str(sizing.tensor_parallel) if sizing.fits else "> 8"


def run_table(args: argparse.Namespace) -> int:
    sys.stdout.write(sizing_table(load_bundle().catalog, args.max_model_len))
    return 0
