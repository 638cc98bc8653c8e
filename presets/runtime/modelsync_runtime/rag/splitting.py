"""How a document becomes nodes: sentences by default, syntax-aware chunks for code.

KAITO's rule: a document whose metadata says ``split_type: code`` and names a
``language`` goes through LlamaIndex's ``CodeSplitter`` (tree-sitter: chunks end at
function and class boundaries); every other document through the ``SentenceSplitter``.

The grammars come from one PyPI wheel per language (``tree-sitter-python``, ...), handed
to ``CodeSplitter`` as a ready parser: ``tree-sitter-language-pack``, which the splitter
would use by itself, downloads its grammars from the network at first use. Sentence
chunks are measured in the embedding model's own tokens, so a chunk is never cut off by
the model's input limit; a code chunk is bounded by characters (``codeMaxChars``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from typing import Any

from llama_index.core.node_parser import CodeSplitter, SentenceSplitter

from modelsync_runtime.rag.config import RagConfig

__all__ = ["CODE_LANGUAGES", "Splitters", "UnknownLanguageError"]

# language (as a document's metadata names it) -> (grammar module, its function)
CODE_LANGUAGES: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "go": ("tree_sitter_go", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "bash": ("tree_sitter_bash", "language"),
}
_ALIASES = {"py": "python", "golang": "go", "js": "javascript", "ts": "typescript",
            "c++": "cpp", "sh": "bash", "shell": "bash"}  # fmt: skip
# Metadata keys that steer splitting; they say nothing about the content, so the
# embedding does not see them (the model and the API still do).
CONTROL_KEYS = ("split_type", "language")


class UnknownLanguageError(ValueError):
    """A document asked for code splitting in a language without a grammar here."""


def canonical_language(name: str) -> str:
    language = _ALIASES.get(name.strip().lower(), name.strip().lower())
    if language not in CODE_LANGUAGES:
        raise UnknownLanguageError(
            f"no code splitter for language {name!r} (known: {', '.join(CODE_LANGUAGES)})"
        )
    return language


@cache
def _parser(language: str) -> Any:
    import tree_sitter  # noqa: PLC0415 - only documents marked as code need a grammar

    module_name, function = CODE_LANGUAGES[language]
    grammar = getattr(importlib.import_module(module_name), function)()
    return tree_sitter.Parser(tree_sitter.Language(grammar))


class Splitters:
    """The node parsers of one service, built once and picked per document."""

    def __init__(self, config: RagConfig, tokenizer: Callable[[str], list[Any]]) -> None:
        self._config = config
        self.sentences = SentenceSplitter(
            chunk_size=config.chunk_size,
            chunk_overlap=config.chunk_overlap,
            tokenizer=tokenizer,
        )
        self._code: dict[str, CodeSplitter] = {}

    def for_metadata(self, metadata: dict[str, Any]) -> SentenceSplitter | CodeSplitter:
        """The splitter KAITO's metadata asks for; a bad language is the caller's error."""
        if str(metadata.get("split_type", "")).lower() != "code":
            return self.sentences
        language = canonical_language(str(metadata.get("language", "")))
        if language not in self._code:
            self._code[language] = CodeSplitter(
                language=language,
                max_chars=self._config.code_max_chars,
                parser=_parser(language),
            )
        return self._code[language]
