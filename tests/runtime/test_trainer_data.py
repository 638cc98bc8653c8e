"""Training data: every file format and row shape, tokenized with the loss on answers only."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import datasets
import pytest
from modelsync_runtime.errors import ConfigError
from modelsync_runtime.trainer.config import DatasetSettings
from modelsync_runtime.trainer.data import (
    IGNORE_INDEX,
    ExampleFormat,
    detect_format,
    find_data_files,
    load_rows,
    prepare_datasets,
    tokenize_row,
)

from tests.runtime.training import QA_PAIRS, qa_messages, write_jsonl

NO_SPLIT = DatasetSettings(train_test_split=1, shuffle_dataset=False)


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    return path


def pairs(prompt: str = "question", response: str = "answer") -> list[dict[str, str]]:
    return [{prompt: q, response: a} for q, a in QA_PAIRS]


def trained_text(tokenizer: Any, example: dict[str, list[int]]) -> str:
    """The part of an example that carries a loss, decoded."""
    kept = [
        t
        for t, label in zip(example["input_ids"], example["labels"], strict=True)
        if label != IGNORE_INDEX
    ]
    return str(tokenizer.decode(kept))


WRITERS = {".jsonl": write_jsonl, ".csv": write_csv, ".parquet": write_parquet}


@pytest.mark.parametrize(
    ("name", "rows", "kind"),
    [
        ("chat.jsonl", qa_messages(1), "messages"),
        ("chat.parquet", qa_messages(1), "messages"),
        ("qa.csv", pairs(), "pair"),
        ("qa.jsonl", pairs("instruction", "output"), "pair"),
        ("qa.parquet", pairs("prompt", "completion"), "pair"),
        ("notes.csv", [{"text": f"{q} {a}"} for q, a in QA_PAIRS], "text"),
        ("notes.parquet", [{"text": f"{q} {a}"} for q, a in QA_PAIRS], "text"),
    ],
)
def test_each_format_and_shape_loads_and_tokenizes(
    tmp_path: Path, tiny_tokenizer: Any, name: str, rows: list[Any], kind: str
) -> None:
    path = tmp_path / name
    WRITERS[path.suffix](path, rows)
    train, held_out = prepare_datasets(tmp_path, NO_SPLIT, tiny_tokenizer)
    assert held_out is None
    assert len(train) == len(QA_PAIRS)
    assert (
        detect_format(load_rows(find_data_files(tmp_path, NO_SPLIT)).column_names, NO_SPLIT).kind
        == kind
    )
    first = train[0]
    assert set(first) == {"input_ids", "attention_mask", "labels"}
    assert len(first["input_ids"]) == len(first["labels"]) == len(first["attention_mask"])
    expected = "paris." if kind != "text" else "what is the capital of france? paris."
    assert trained_text(tiny_tokenizer, first).startswith(expected)


def test_a_conversation_trains_on_the_assistant_turns_only(tiny_tokenizer: Any) -> None:
    fmt = ExampleFormat("messages", "messages")
    row = {
        "messages": [
            {"role": "system", "content": "answer briefly."},
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi."},
            {"role": "user", "content": "where do pods run?"},
            {"role": "assistant", "content": "on nodes."},
        ]
    }
    example = tokenize_row(row, fmt, tiny_tokenizer, max_length=512)
    # Both answers and their end-of-turn tokens carry a loss; nothing else does.
    assert trained_text(tiny_tokenizer, example) == "hi.</s>\non nodes.</s>\n"
    full = tiny_tokenizer.decode(example["input_ids"])
    assert full.startswith("<|system|>\nanswer briefly.</s>\n<|user|>\nhello")


def test_alpaca_input_is_appended_to_the_instruction(tiny_tokenizer: Any) -> None:
    fmt = detect_format(["instruction", "input", "output"], NO_SPLIT)
    assert fmt == ExampleFormat("pair", "output", prompt_column="instruction", input_column="input")
    row = {"instruction": "translate", "input": "hello", "output": "bonjour"}
    example = tokenize_row(row, fmt, tiny_tokenizer, max_length=512)
    assert "translate\n\nhello" in tiny_tokenizer.decode(example["input_ids"])
    assert trained_text(tiny_tokenizer, example) == "bonjour</s>\n"


def test_plain_text_trains_on_everything_and_ends_with_eos(tiny_tokenizer: Any) -> None:
    example = tokenize_row(
        {"text": "hello world"}, ExampleFormat("text", "text"), tiny_tokenizer, 512
    )
    assert example["labels"] == example["input_ids"]
    assert example["input_ids"][-1] == tiny_tokenizer.eos_token_id


def test_configured_columns_win_over_guesses() -> None:
    settings = DatasetSettings(context_column="q", response_column="a")
    assert (
        detect_format(["q", "a", "messages"], DatasetSettings(messages_column="messages")).kind
        == "messages"
    )
    assert detect_format(["q", "a"], settings) == ExampleFormat("pair", "a", prompt_column="q")
    with pytest.raises(ConfigError, match="context_column 'q' is not a column"):
        detect_format(["question", "answer"], settings)


def test_unknown_columns_are_refused() -> None:
    with pytest.raises(ConfigError, match="cannot tell the data format"):
        detect_format(["foo", "bar"], NO_SPLIT)
    with pytest.raises(ConfigError, match="no response column"):
        detect_format(["prompt", "label"], NO_SPLIT)


def test_examples_cut_before_the_answer_are_dropped(tmp_path: Path, tiny_tokenizer: Any) -> None:
    write_jsonl(
        tmp_path / "long.jsonl",
        [{"prompt": "word " * 50, "response": "ok"}, *pairs("prompt", "response")],
    )
    settings = DatasetSettings(train_test_split=1, max_seq_length=24)
    train, _ = prepare_datasets(tmp_path, settings, tiny_tokenizer)
    assert len(train) == len(QA_PAIRS)
    assert max(len(ids) for ids in train["input_ids"]) <= 24


def test_a_split_holds_out_a_share(tmp_path: Path, tiny_tokenizer: Any) -> None:
    write_jsonl(tmp_path / "train.jsonl", qa_messages(5))
    train, held_out = prepare_datasets(
        tmp_path, DatasetSettings(train_test_split=0.8), tiny_tokenizer
    )
    assert held_out is not None
    assert (len(train), len(held_out)) == (16, 4)


def test_data_files_are_found_below_the_data_dir(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "a" / "part-1.jsonl", qa_messages(1))
    write_jsonl(tmp_path / "b" / "part-2.jsonl", qa_messages(1))
    (tmp_path / ".partial.jsonl").write_text("")
    (tmp_path / "README.md").write_text("data")
    found = find_data_files(tmp_path, NO_SPLIT)
    assert found.builder == "json"
    assert [p.name for p in found.files] == ["part-1.jsonl", "part-2.jsonl"]
    only = find_data_files(tmp_path, DatasetSettings(dataset_path="b/part-2.jsonl"))
    assert [p.name for p in only.files] == ["part-2.jsonl"]
    assert len(load_rows(found)) == 2 * len(QA_PAIRS)


def test_an_explicit_extension_reads_an_unusual_name(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "data.txt", qa_messages(1))
    found = find_data_files(tmp_path, DatasetSettings(dataset_extension="jsonl"))
    assert found.builder == "json"


@pytest.mark.parametrize(
    ("files", "settings", "reason"),
    [
        ([], NO_SPLIT, "no .jsonl, .json, .csv or .parquet file"),
        (["a.jsonl", "b.csv"], NO_SPLIT, "mixes data formats (csv, json)"),
        (["a.jsonl"], DatasetSettings(dataset_path="missing.jsonl"), "does not exist"),
    ],
)
def test_missing_or_mixed_data_is_refused(
    tmp_path: Path, files: list[str], settings: DatasetSettings, reason: str
) -> None:
    for name in files:
        (tmp_path / name).write_text('{"text": "x"}\n' if name.endswith("jsonl") else "text\nx\n")
    with pytest.raises(ConfigError) as caught:
        find_data_files(tmp_path, settings)
    assert reason in str(caught.value)


def test_a_malformed_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(ConfigError, match="cannot read json data"):
        load_rows(find_data_files(tmp_path, NO_SPLIT))
