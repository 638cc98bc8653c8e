"""``/v1/chat/completions`` and ``/query``: retrieve first, then ask the served model.

KAITO's rules, kept: a request without ``index_name``, with ``tools``/``functions``, with a
role other than system/developer/user/assistant, or with non-text user content goes to the
model unchanged (passthrough). Otherwise the user messages after the last assistant turn
are the search query, and the best nodes are added to the system message until
``context_token_ratio`` of the room left in the context window is used. The response is
the model's, plus ``source_nodes``: the nodes that went into the prompt.

Differences from KAITO, on purpose: the room is what the window leaves after the prompt
*and* ``max_tokens`` (KAITO fills ``max_tokens * ratio`` when ``max_tokens`` is set, which
gives no context to a short answer); at most ``top_k`` nodes (the request's, else the
configured default) so an unrelated document does not ride along because it fits; tokens
are counted with the embedding model's tokenizer, an estimate of the served model's.
Streaming is refused with 400: the answer and its sources are one JSON document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import openai

from modelsync_runtime.rag.config import RagConfig
from modelsync_runtime.rag.engine import Engine, Retrieved
from modelsync_runtime.rag.errors import (
    BadRequestError,
    NotFoundError,
    UnavailableError,
    UpstreamError,
)

__all__ = ["Generator", "source_node"]

_RAG_ROLES = {"system", "developer", "user", "assistant"}
CONTEXT_HEADER = (
    "Answer the user's question using the context below. "
    "If the context does not contain the answer, say that you do not know.\n\nContext:\n"
)


def source_node(item: Retrieved) -> dict[str, Any]:
    return {
        "doc_id": item.doc_id,
        "node_id": item.node_id,
        "text": item.text,
        "score": item.score,
        "metadata": item.metadata,
    }


def _text_of(content: Any) -> str | None:
    """A message's text, or None when it holds anything but text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            else:
                return None
        return "\n".join(parts)
    return None


def _passthrough_reason(request: Mapping[str, Any]) -> str:
    """Why a request skips retrieval ("" when it does not)."""
    if not request.get("index_name"):
        return "no index_name"
    if request.get("tools") or request.get("functions"):
        return "tools or functions"
    for message in request["messages"]:
        if message.get("role") not in _RAG_ROLES:
            return f"role {message.get('role')!r}"
        if message.get("role") == "user" and _text_of(message.get("content")) is None:
            return "non-text user content"
    return ""


def _check_messages(request: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequestError("messages must be a non-empty list")
    for message in messages:
        if not isinstance(message, Mapping) or not message.get("role"):
            raise BadRequestError("every message needs a role")
        if message["role"] != "assistant" and message.get("content") is None:
            raise BadRequestError(f"a {message['role']} message needs content")
    return messages


class Generator:
    """Retrieval-augmented chat against the configured OpenAI-compatible endpoint."""

    def __init__(self, config: RagConfig, engine: Engine, api_key: str = "") -> None:
        self.config = config
        self.engine = engine
        self._client = (
            openai.OpenAI(
                base_url=config.inference_base_url,
                api_key=api_key or "unused",
                timeout=config.inference_timeout,
                max_retries=0,
            )
            if config.inference_url
            else None
        )

    def _complete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        if self._client is None:
            raise UnavailableError("no inference endpoint is configured (inferenceUrl)")
        fields = dict(body)
        model = fields.pop("model", None) or self.config.inference_model
        if not model:
            raise BadRequestError("the request names no model and no inferenceModel is configured")
        messages = fields.pop("messages")
        try:
            # Everything but model and messages travels as given, so parameters this
            # client version does not know still reach vLLM.
            completion = self._client.chat.completions.create(
                model=model, messages=messages, extra_body=fields
            )
        except openai.APIStatusError as e:
            error = UpstreamError(f"inference endpoint answered {e.status_code}: {e.message}")
            # The model's own 4xx (a prompt too long, a bad parameter) is the caller's.
            error.status = e.status_code if 400 <= e.status_code < 500 else 502
            raise error from e
        except openai.APIError as e:
            raise UpstreamError(f"inference endpoint failed: {e}") from e
        result: dict[str, Any] = completion.to_dict()
        return result

    def chat(self, request: Mapping[str, Any]) -> dict[str, Any]:
        messages = _check_messages(request)
        if request.get("stream"):
            raise BadRequestError("stream=true is not supported; ask without streaming")
        ratio = request.get("context_token_ratio", self.config.context_token_ratio)
        if not isinstance(ratio, int | float) or not 0.2 <= ratio <= 0.8:
            raise BadRequestError(f"context_token_ratio must be in [0.2, 0.8], got {ratio!r}")
        body = {
            key: value
            for key, value in request.items()
            if key not in {"index_name", "context_token_ratio", "top_k"}
        }
        if _passthrough_reason(request):
            return self._complete(body)
        index_name = str(request["index_name"])
        if index_name not in self.engine.list_indexes():
            raise NotFoundError(f"no index named {index_name!r}")
        query = _user_query(messages)
        chosen = self._context(index_name, query, messages, request, float(ratio))
        if not chosen:
            return self._complete(body)
        body["messages"] = _with_context(messages, chosen)
        result = self._complete(body)
        result["source_nodes"] = [source_node(item) for item in chosen]
        return result

    def _context(
        self,
        index_name: str,
        query: str,
        messages: Sequence[Mapping[str, Any]],
        request: Mapping[str, Any],
        ratio: float,
    ) -> list[Retrieved]:
        count = self.engine.embedding.count_tokens
        prompt_tokens = sum(count(_text_of(m.get("content")) or "") for m in messages)
        answer_tokens = int(request.get("max_tokens") or request.get("max_completion_tokens") or 0)
        room = self.config.context_window - prompt_tokens - answer_tokens
        if room <= 0:
            raise BadRequestError(
                f"the prompt ({prompt_tokens} tokens) and max_tokens ({answer_tokens}) "
                f"leave no room in the {self.config.context_window}-token context window"
            )
        budget = int(room * ratio)
        top_k = int(request.get("top_k") or self.config.default_top_k)
        chosen: list[Retrieved] = []
        for item in self.engine.retrieve(index_name, query, min(top_k, self.config.max_top_k)):
            cost = count(item.text) + 4  # the "[n] " label and the blank line
            if cost <= budget:
                chosen.append(item)
                budget -= cost
        return chosen

    def query(
        self, index_name: str, query: str, top_k: int, llm_params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """KAITO's older ``/query``: the answer to one question and the nodes behind it."""
        found = self.engine.retrieve(index_name, query, top_k)
        messages = _with_context([{"role": "user", "content": query}], found)
        result = self._complete({**llm_params, "messages": messages})
        answer = result["choices"][0]["message"].get("content") if result["choices"] else None
        return {
            "response": answer,
            "source_nodes": [source_node(item) for item in found],
            "metadata": {"model": result.get("model"), "usage": result.get("usage")},
        }


def _user_query(messages: Sequence[Mapping[str, Any]]) -> str:
    """The user turns after the last assistant turn, which are what retrieval searches."""
    turns: list[str] = []
    for message in reversed(messages):
        if message["role"] == "assistant":
            break
        if message["role"] == "user":
            turns.insert(0, _text_of(message.get("content")) or "")
    query = "\n\n".join(turn for turn in turns if turn.strip())
    if not query:
        raise BadRequestError("there must be a user message after the last assistant message")
    return query


def _with_context(
    messages: Sequence[Mapping[str, Any]], chosen: Sequence[Retrieved]
) -> list[dict[str, Any]]:
    context = CONTEXT_HEADER + "\n\n".join(
        f"[{number}] {item.text}" for number, item in enumerate(chosen, start=1)
    )
    result = [dict(message) for message in messages]
    if result and result[0]["role"] in {"system", "developer"}:
        original = _text_of(result[0].get("content")) or ""
        result[0]["content"] = f"{original}\n\n{context}" if original else context
    else:
        result.insert(0, {"role": "system", "content": context})
    return result
