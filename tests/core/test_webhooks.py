"""Webhook decisions: signatures, events, refs and redeliveries."""

from __future__ import annotations

import json

from controller.core.webhooks import Deliveries, github_decision, github_signature, token_valid

SECRET = b"topsecret"


def decide(
    body: dict[str, object],
    *,
    event: str = "push",
    secret: bytes = SECRET,
    ref: str | None = "refs/heads/main",
) -> tuple[int, bool, str]:
    data = json.dumps(body).encode()
    d = github_decision(
        secret=SECRET,
        body=data,
        signature=github_signature(secret, data),
        event=event,
        followed_ref=ref,
    )
    return d.status, d.trigger, d.message


def test_githubs_documented_signature_example() -> None:
    # docs.github.com "Validating webhook deliveries": secret "It's a Secret to Everybody",
    # payload "Hello, World!".
    assert github_signature(b"It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_only_a_signed_push_to_the_followed_ref_triggers() -> None:
    assert decide({"ref": "refs/heads/main"}) == (202, True, "push to refs/heads/main: fetching")
    assert decide({"ref": "refs/heads/main"}, secret=b"other")[:2] == (401, False)
    assert decide({"ref": "refs/heads/feature"})[:2] == (202, False)
    assert decide({"ref": "refs/tags/v1"}, ref="refs/tags/v1")[:2] == (202, True)
    assert decide({"ref": "refs/heads/main"}, ref=None)[:2] == (202, False)
    assert decide({}, event="ping")[:2] == (200, False)
    assert decide({}, event="issues")[:2] == (202, False)


def test_malformed_or_unsigned_bodies_are_refused() -> None:
    body = b"not json"
    signed = github_decision(
        secret=SECRET,
        body=body,
        signature=github_signature(SECRET, body),
        event="push",
        followed_ref="refs/heads/main",
    )
    assert (signed.status, signed.trigger) == (400, False)
    unsigned = github_decision(
        secret=SECRET, body=body, signature=None, event="push", followed_ref="refs/heads/main"
    )
    assert unsigned.status == 401
    nothing_configured = github_decision(
        secret=b"", body=body, signature="sha256=", event="push", followed_ref="refs/heads/main"
    )
    assert nothing_configured.status == 401


def test_tokens_and_redeliveries() -> None:
    assert token_valid(b"abc\n", "abc")
    assert not token_valid(b"abc", "abd")
    assert not token_valid(b"", "")
    seen = Deliveries(size=2)
    assert seen.first_time("a")
    assert not seen.first_time("a")
    assert seen.first_time("b")
    assert seen.first_time("c")
    assert seen.first_time("a")  # forgotten once the window moved on


def test_non_ascii_signatures_and_tokens_are_refused_not_raised() -> None:
    body = b"{}"
    for signature in ("sha256=\u00e9" + "0" * 63, "sha256=\u2603", "sha256=\udcff"):
        decision = github_decision(
            secret=SECRET, body=body, signature=signature, event="push", followed_ref=None
        )
        assert (decision.status, decision.trigger) == (401, False)
    assert not token_valid(b"abc", "\u00e9bc")
    assert not token_valid(b"abc", "\udcff")
