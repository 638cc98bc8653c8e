"""Training data: files under the data directory -> rows -> token ids with loss labels.

Formats (``datasets`` builders): JSON Lines / JSON, CSV, Parquet. Row shapes, checked in
this order:

- conversational: a ``messages`` column of ``[{role, content}, ...]`` (OpenAI fine-tuning
  format), rendered with the tokenizer's chat template;
- instruction/response: a prompt column (``DatasetConfig.context_column``, or one of
  instruction / prompt / question, with Alpaca's optional ``input`` appended) and a response
  column, rendered as a user turn and an assistant turn;
- plain text: ``DatasetConfig.response_column`` (``text`` by default), trained as is.

Only what the model should learn to produce carries a loss: the assistant turns of a
conversation and the response of a pair; prompts and system turns are masked with -100.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import datasets

from modelsync_runtime.errors import ConfigError
from modelsync_runtime.trainer.config import DatasetSettings

__all__ = [
    "BUILDERS",
    "ExampleFormat",
    "detect_format",
    "find_data_files",
    "load_rows",
    "prepare_datasets",
    "tokenize_row",
]

IGNORE_INDEX = -100
BUILDERS = {"jsonl": "json", "json": "json", "csv": "csv", "parquet": "parquet"}
PROMPT_COLUMNS = ("instruction", "prompt", "question")
RESPONSE_COLUMNS = ("response", "completion", "output", "answer")
Encode = Callable[[str], list[int]]


@dataclass(frozen=True)
class DataFiles:
    """The files to load and the ``datasets`` builder that reads them."""

    builder: str
    files: tuple[Path, ...]


@dataclass(frozen=True)
class ExampleFormat:
    """Which columns make an example, and how they are turned into text."""

    kind: Literal["messages", "pair", "text"]
    column: str
    prompt_column: str = ""
    input_column: str = ""


def _builder_for(path: Path, extension: str) -> str | None:
    return BUILDERS.get((extension or path.suffix).lower().lstrip("."))


def find_data_files(data_dir: Path, settings: DatasetSettings) -> DataFiles:
    """``dataset_path`` (relative to the data directory) or every data file below it."""
    root = data_dir / settings.dataset_path if settings.dataset_path else data_dir
    if root.is_file():
        candidates = [root]
    elif root.is_dir():
        candidates = sorted(
            p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
        )
    else:
        raise ConfigError(f"dataset path {root} does not exist")
    by_builder: dict[str, list[Path]] = {}
    for path in candidates:
        builder = _builder_for(path, settings.dataset_extension)
        if builder:
            by_builder.setdefault(builder, []).append(path)
    if not by_builder:
        raise ConfigError(f"no .jsonl, .json, .csv or .parquet file under {root}")
    if len(by_builder) > 1:
        kinds = ", ".join(sorted(by_builder))
        raise ConfigError(f"{root} mixes data formats ({kinds}); set DatasetConfig.dataset_path")
    (builder, files), *_ = by_builder.items()
    return DataFiles(builder=builder, files=tuple(files))


def load_rows(files: DataFiles) -> datasets.Dataset:
    """Read the files into one ``datasets.Dataset``."""
    try:
        return datasets.load_dataset(
            files.builder, data_files=[str(f) for f in files.files], split="train"
        )
    except (ValueError, TypeError, datasets.exceptions.DatasetGenerationError) as e:
        raise ConfigError(f"cannot read {files.builder} data {files.files[0]}: {e}") from e


def detect_format(columns: Sequence[str], settings: DatasetSettings) -> ExampleFormat:
    """Decide the row shape from the column names and the DatasetConfig."""
    present = set(columns)

    def need(column: str, key: str) -> str:
        if column not in present:
            raise ConfigError(
                f"DatasetConfig.{key} {column!r} is not a column of {sorted(present)}"
            )
        return column

    if settings.messages_column:
        return ExampleFormat("messages", need(settings.messages_column, "messages_column"))
    if "messages" in present:
        return ExampleFormat("messages", "messages")
    prompt = (
        need(settings.context_column, "context_column")
        if settings.context_column
        else next((c for c in PROMPT_COLUMNS if c in present), "")
    )
    if prompt:
        response = settings.response_column if settings.response_column in present else ""
        response = response or next((c for c in RESPONSE_COLUMNS if c in present), "")
        if not response:
            raise ConfigError(
                f"found prompt column {prompt!r} but no response column in {sorted(present)}"
            )
        extra = "input" if prompt == "instruction" and "input" in present else ""
        return ExampleFormat("pair", response, prompt_column=prompt, input_column=extra)
    if settings.response_column in present:
        return ExampleFormat("text", settings.response_column)
    raise ConfigError(
        f"cannot tell the data format from columns {sorted(present)}: expected messages, "
        f"a prompt and a response column, or {settings.response_column!r}"
    )


def _content(value: Any) -> str:
    # OpenAI-style content may be a list of parts; only text parts can be trained on.
    if isinstance(value, list):
        return "".join(str(p.get("text", "")) for p in value if isinstance(p, Mapping))
    return "" if value is None else str(value)


def _messages(row: Mapping[str, Any], fmt: ExampleFormat) -> list[dict[str, str]]:
    if fmt.kind == "messages":
        turns = row[fmt.column]
        if not isinstance(turns, list) or not all(isinstance(t, Mapping) for t in turns):
            raise ConfigError(f"column {fmt.column!r} must hold lists of {{role, content}}")
        return [{"role": str(t.get("role")), "content": _content(t.get("content"))} for t in turns]
    prompt = _content(row[fmt.prompt_column])
    if fmt.input_column and _content(row[fmt.input_column]):
        prompt = f"{prompt}\n\n{_content(row[fmt.input_column])}"
    return [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": _content(row[fmt.column])},
    ]


def _render(tokenizer: Any, turns: list[dict[str, str]], prompt: bool) -> str:
    if tokenizer.chat_template:
        return str(
            tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=prompt)
        )
    # A base model without a chat template: plain "role: content" lines.
    text = "".join(f"{t['role']}: {t['content']}\n" for t in turns)
    return text + ("assistant: " if prompt else "")


def _chat_example(
    tokenizer: Any, encode: Encode, turns: list[dict[str, str]]
) -> tuple[list[int], list[int]]:
    ids = encode(_render(tokenizer, turns, prompt=False))
    labels = [IGNORE_INDEX] * len(ids)
    for i, turn in enumerate(turns):
        if turn["role"] != "assistant":
            continue
        start = encode(_render(tokenizer, turns[:i], prompt=True)) if i else []
        end = len(encode(_render(tokenizer, turns[: i + 1], prompt=False)))
        if ids[: len(start)] != start:
            # The template renders a prefix differently from the whole conversation, so
            # turn boundaries are unknown: train on everything rather than guess.
            return ids, list(ids)
        labels[len(start) : end] = ids[len(start) : end]
    return ids, labels


def tokenize_row(
    row: Mapping[str, Any], fmt: ExampleFormat, tokenizer: Any, max_length: int
) -> dict[str, list[int]]:
    """Token ids, attention mask and labels of one row, cut to ``max_length`` tokens."""

    def encode(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    if fmt.kind == "text":
        ids = list(tokenizer(_content(row[fmt.column]))["input_ids"])
        if tokenizer.eos_token_id is not None:
            ids.append(tokenizer.eos_token_id)
        labels = list(ids)
    else:
        turns = _messages(row, fmt)
        ids, labels = _chat_example(tokenizer, encode, turns)
        if not tokenizer.chat_template and tokenizer.eos_token_id is not None:
            ids.append(tokenizer.eos_token_id)
            labels.append(tokenizer.eos_token_id)
    ids, labels = ids[:max_length], labels[:max_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def prepare_datasets(
    data_dir: Path, settings: DatasetSettings, tokenizer: Any
) -> tuple[datasets.Dataset, datasets.Dataset | None]:
    """Load, tokenize, shuffle and split; returns (train, eval or None)."""
    rows = load_rows(find_data_files(data_dir, settings))
    fmt = detect_format(rows.column_names, settings)
    tokenized = rows.map(
        lambda row: tokenize_row(row, fmt, tokenizer, settings.max_seq_length),
        remove_columns=rows.column_names,
        desc=f"tokenizing ({fmt.kind})",
    )
    # An example whose trainable part was cut off entirely would only add a NaN loss.
    tokenized = tokenized.filter(lambda row: any(label != IGNORE_INDEX for label in row["labels"]))
    if len(tokenized) == 0:
        raise ConfigError("no example has anything to train on after tokenization")
    if settings.shuffle_dataset:
        tokenized = tokenized.shuffle(seed=settings.shuffle_seed)
    held_out = round(len(tokenized) * (1 - settings.train_test_split))
    if held_out < 1 or held_out >= len(tokenized):
        return tokenized, None
    split = tokenized.train_test_split(test_size=held_out, seed=settings.shuffle_seed)
    return split["train"], split["test"]
