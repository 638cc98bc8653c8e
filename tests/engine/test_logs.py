"""The controller's log lines: text or JSON, structured fields, and never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from controller.engine import logs

TOKEN = "ghp_S3cr3tT0ken0123456789"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    yield out
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_time_level_logger_message_and_the_fields(stream: io.StringIO) -> None:
    logs.configure("INFO", stream, "json")
    logging.getLogger("modelsync.test").warning(
        "invalid Workspace %s", "ml/phi",
        extra={"cluster": "edge", "workspace": "phi", "file": "clusters/edge/phi.yaml",
               "commit": "abc", "reason": "ValidationFailed", "unrelated": "x"},
    )  # fmt: skip
    [line] = lines(stream)
    assert str(line.pop("time")).endswith("Z")
    assert line == {
        "level": "warning",
        "logger": "modelsync.test",
        "message": "invalid Workspace ml/phi",
        "cluster": "edge",
        "workspace": "phi",
        "file": "clusters/edge/phi.yaml",
        "commit": "abc",
        "reason": "ValidationFailed",
    }


def test_json_redacts_urls_known_secrets_and_tracebacks(stream: io.StringIO) -> None:
    formatter = logs.configure("INFO", stream, "json")
    formatter.add_secrets([TOKEN, 'quo"te\\secret'])
    log = logging.getLogger("modelsync.test")
    log.info("cloning https://%s@github.com/acme/clusters.git", "tok-in-url")
    log.info("a secret JSON must escape: %s", 'quo"te\\secret', extra={"reason": TOKEN})
    try:
        raise RuntimeError(f"boom with {TOKEN}")
    except RuntimeError:
        log.exception("failed")
    text = stream.getvalue()
    assert "tok-in-url" not in text
    assert TOKEN not in text
    assert "quo" not in text
    first, second, third = lines(stream)
    assert first["message"] == "cloning https://***@github.com/acme/clusters.git"
    assert second["reason"] == "***"
    assert "RuntimeError: boom with ***" in str(third["exception"])


def test_text_stays_the_default_and_a_wrong_format_is_refused(stream: io.StringIO) -> None:
    formatter = logs.configure("INFO", stream)
    formatter.add_secrets([TOKEN])
    logging.getLogger("modelsync.test").info("token %s", TOKEN)
    assert stream.getvalue().rstrip().endswith("INFO modelsync.test: token ***")
    with pytest.raises(ValueError, match="text, json"):
        logs.configure("INFO", stream, "yaml")
