"""The one redaction rule: URL credentials and known secrets never leave in any text."""

from __future__ import annotations

import pytest

from controller.core.redaction import redact, redact_data, split_userinfo

TOKEN = "ghp_0123456789abcdefTOKEN"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"from https://{TOKEN}@github.com/r failed", "from https://***@github.com/r failed"),
        (f"HTTP://{TOKEN}@host/r", "HTTP://***@host/r"),
        ("at https://bot:hunter2@host/r.git", "at https://bot:***@host/r.git"),
        ("ssh://git:hunter2@host/r.git", "ssh://git:***@host/r.git"),
        ("ssh://git@host:2222/r.git stays", "ssh://git@host:2222/r.git stays"),
        ("git@github.com:org/r.git stays", "git@github.com:org/r.git stays"),
        ("mail me at a@b.c or see https://host/a@b", "mail me at a@b.c or see https://host/a@b"),
    ],
)
def test_credentials_in_urls_are_hidden(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_known_secrets_are_hidden_anywhere_longest_first() -> None:
    assert redact(f"token {TOKEN} and {TOKEN[:8]}", [TOKEN[:8], TOKEN, None, ""]) == (
        "token *** and ***"
    )


def test_redact_data_walks_json_like_values() -> None:
    data = {"error": f"https://{TOKEN}@h/x", "rows": [{"m": f"x {TOKEN}"}], "n": 3, "ok": None}
    assert redact_data(data, [TOKEN]) == {
        "error": "https://***@h/x",
        "rows": [{"m": "x ***"}],
        "n": 3,
        "ok": None,
    }


def test_split_userinfo_takes_out_what_redact_would_hide() -> None:
    assert split_userinfo("https://bot:tok@host/x.git") == ("https://host/x.git", "bot", "tok")
    assert split_userinfo(f"https://{TOKEN}@host/x.git") == ("https://host/x.git", TOKEN, None)
    assert split_userinfo("ssh://git@host/x.git") == ("ssh://git@host/x.git", None, None)
    assert split_userinfo("git@github.com:org/x.git") == ("git@github.com:org/x.git", None, None)
