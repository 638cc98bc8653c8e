"""A tiny random Llama and its tokenizer, built locally, for smoke tests and benchmarks.

No hub access: a byte-level BPE tokenizer is trained on a few sentences and wrapped with a
chat template, and a 2-layer Llama (hidden 128, 2 heads of 64) gets random weights. The head
size matters: vLLM's CPU attention rejects a head_dim of 16. The result is a normal Hugging
Face model folder that vLLM serves and the trainer fine-tunes, which is how the images'
code paths are exercised without a GPU or network:

    python -m modelsync_runtime.tinymodel /tmp/tiny-llama
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["CHAT_TEMPLATE", "SPECIAL_TOKENS", "build_tiny_llama", "build_tiny_tokenizer"]

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>")
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_CORPUS = (
    "the quick brown fox jumps over the lazy dog.",
    "hello world, how are you today? i am fine, thank you.",
    "modelsync serves tiny llamas on a cpu with vllm and tunes them with peft.",
    "question: what is the capital of france? answer: paris.",
    "kubernetes runs pods on nodes; a gpu node pool holds accelerators.",
)


def build_tiny_tokenizer(vocab_size: int = 384) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` with a chat template (no unknown bytes)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: PLC0415
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(_CORPUS) * 20, trainer=trainer)
    roles = dict(
        zip(("pad_token", "bos_token", "eos_token", "unk_token"), SPECIAL_TOKENS, strict=False)
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, chat_template=CHAT_TEMPLATE, model_max_length=512, **roles
    )


def build_tiny_llama(out: Path, seed: int = 0) -> Path:
    """Write the tokenizer and a random 2-layer Llama to ``out``; returns ``out``."""
    import torch  # noqa: PLC0415 - heavy; only the fixture and the bench need it
    from transformers import LlamaConfig, LlamaForCausalLM  # noqa: PLC0415

    tokenizer = build_tiny_tokenizer()
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out))
    vocab = len(tokenizer)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=512,
        pad_token_id=SPECIAL_TOKENS.index("<pad>"),
        bos_token_id=SPECIAL_TOKENS.index("<s>"),
        eos_token_id=SPECIAL_TOKENS.index("</s>"),
        tie_word_embeddings=False,
        # Larger than Llama's 0.02 so the random features are varied enough for a rank-8
        # LoRA to memorise a few answers in tens of steps (the serving test relies on it).
        initializer_range=0.1,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(str(out))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a tiny random Llama for smoke tests.")
    parser.add_argument("out", type=Path)
    build_tiny_llama(parser.parse_args(argv).out)


if __name__ == "__main__":
    main()
