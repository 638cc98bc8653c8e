"""``modelsync-train``: the tuning Job's entry point.

    modelsync-train --config training_config.yaml [--config OVERRIDE ...]
                    --model MODEL --data-dir /mnt/data --output-dir /mnt/output

Everything that can be decided without loading a model is checked first (config files,
model name, QLoRA's need for CUDA and bitsandbytes), so a wrong Workspace fails in seconds
with exit code 2 and one line; a run whose output already holds the completion marker exits
0 at once, so a Job retried after success does not train again.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path

from modelsync_runtime.errors import ConfigError, exit_with_config_error
from modelsync_runtime.trainer import MARKER
from modelsync_runtime.trainer.config import TrainingConfig, load_training_config

__all__ = ["check_quantization_support", "main"]

PROGRAM = "modelsync-train"


def check_quantization_support(config: TrainingConfig, cuda_available: bool) -> None:
    """QLoRA quantizes through bitsandbytes, which needs a CUDA GPU."""
    if not config.quantized:
        return
    if not cuda_available:
        raise ConfigError(
            "QLoRA (QuantizationConfig load_in_4bit/load_in_8bit) needs a CUDA GPU and "
            "bitsandbytes, and this node has no CUDA device; use method: lora to train on CPU"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError("QLoRA needs the bitsandbytes package, which this image lacks")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROGRAM, description="Fine-tune a model with LoRA/QLoRA from KAITO's training config."
    )
    parser.add_argument(
        "--config",
        type=Path,
        action="append",
        required=True,
        help="KAITO training_config.yaml; repeat to layer overrides (later wins key by key)",
    )
    parser.add_argument(
        "--model",
        default="",
        help="model id or local path (default: ModelConfig.pretrained_model_name_or_path)",
    )
    parser.add_argument("--data-dir", type=Path, default=Path("/mnt/data"))
    parser.add_argument("--output-dir", type=Path, default=Path("/mnt/output"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Validate, then train (the heavy libraries are imported only after validation)."""
    args = _parse_args(argv)
    marker = args.output_dir / MARKER
    try:
        config = load_training_config(args.config)
        model = args.model or str(config.model.get("pretrained_model_name_or_path", ""))
        if not model:
            raise ConfigError(
                "no model: pass --model or set ModelConfig.pretrained_model_name_or_path"
            )
        if marker.is_file():
            print(json.dumps({"event": "already_complete", "marker": str(marker)}), flush=True)
            return
        import torch  # noqa: PLC0415 - seconds to import; only after the config is known good

        check_quantization_support(config, torch.cuda.is_available())
        args.output_dir.mkdir(parents=True, exist_ok=True)
        from modelsync_runtime.trainer import train  # noqa: PLC0415 - same reason

        train.run(train.TrainJob(config, model, args.data_dir, args.output_dir))
    except ConfigError as e:
        exit_with_config_error(PROGRAM, e)


if __name__ == "__main__":
    main()
