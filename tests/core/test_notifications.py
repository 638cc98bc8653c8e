"""The receivers a config names, and the requests a rollout becomes (no network here)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from controller.core.notifications import (
    SIGNATURE_HEADER,
    NotifyConfigError,
    NotifySecrets,
    Receivers,
    github_repository,
    receivers,
    requests_for,
)
from controller.core.rollouts import Failure, Rollout, RolloutState

SHA = "0123456789abcdef" * 2 + "01234567"
SECRETS = NotifySecrets(github_token="ghp_tok", webhook_url="", webhook_hmac="k3y")
ROLLOUT = Rollout(
    "edge",
    SHA,
    RolloutState.FAILURE,
    "1 failed; phi: UpgradeFailed: boom",
    1,
    2,
    (Failure("ml", "phi", "clusters/edge/phi.yaml", "UpgradeFailed", "boom"),),
)


def make(config: dict[str, object], secrets: NotifySecrets = SECRETS, repo: str = "") -> Receivers:
    return receivers(config, secrets, cluster="edge", repo_url=repo, timeout=5.0)


@pytest.mark.parametrize(
    ("url", "repository"),
    [
        ("https://github.com/acme/clusters.git", "acme/clusters"),
        ("https://x-access-token:t@github.com/acme/clusters", "acme/clusters"),
        ("git@github.com:acme/clusters.git", "acme/clusters"),
        ("ssh://git@github.com/acme/clusters.git", "acme/clusters"),
        ("https://gitlab.com/acme/clusters.git", ""),
        ("https://github.com.evil.example/acme/clusters.git", ""),
    ],
)
def test_the_repository_is_read_from_a_github_clone_url(url: str, repository: str) -> None:
    assert github_repository(url) == repository


def test_a_github_status_goes_on_the_applied_commit_with_the_cluster_context() -> None:
    to = make({"github": {}}, repo="https://github.com/acme/clusters.git")
    [request] = requests_for(ROLLOUT, to)
    assert request.url == f"https://api.github.com/repos/acme/clusters/statuses/{SHA}"
    assert request.headers["Authorization"] == "Bearer ghp_tok"
    assert json.loads(request.body) == {
        "state": "failure",
        "context": "modelsync/edge",
        "description": "1 failed; phi: UpgradeFailed: boom",
    }


def test_github_enterprise_has_its_own_api_url() -> None:
    to = make({"github": {"repository": "acme/c", "apiURL": "https://ghe.acme.com/api/v3/"}})
    [request] = requests_for(ROLLOUT, to)
    assert request.url == f"https://ghe.acme.com/api/v3/repos/acme/c/statuses/{SHA}"


def test_the_webhook_body_is_slack_text_plus_fields_and_signed() -> None:
    to = make({"webhook": {"url": "https://hooks.example.com/x"}})
    [request] = requests_for(ROLLOUT, to)
    body = json.loads(request.body)
    assert body["text"].startswith(":x: modelsync/edge: rollout of 0123456789ab failed: ")
    assert (body["state"], body["commit"], body["failures"][0]["file"]) == (
        "failure", SHA, "clusters/edge/phi.yaml"
    )  # fmt: skip
    expected = hmac.new(b"k3y", request.body, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER] == f"sha256={expected}"


def test_the_webhook_url_may_come_from_the_secret_and_events_filter() -> None:
    secrets = NotifySecrets(webhook_url="https://hooks.slack.com/services/T/B/XYZ")
    to = make({"webhook": {}, "events": ["failure"]}, secrets)
    assert [r.url for r in requests_for(ROLLOUT, to)] == [secrets.webhook_url]
    assert "X-Modelsync-Signature-256" not in requests_for(ROLLOUT, to)[0].headers
    success = Rollout("edge", SHA, RolloutState.SUCCESS, "1 Workspace ready", 1, 1)
    assert requests_for(success, to) == []


@pytest.mark.parametrize(
    ("config", "secrets", "message"),
    [
        ({"github": {}}, SECRETS, "not given, and repo.url is not a github.com URL"),
        ({"github": {"repository": "a/b"}}, NotifySecrets(), "no token"),
        ({"webhook": {}}, SECRETS, "no webhook-url key"),
        ({"webhook": {"url": "http://hooks.example.com/"}}, SECRETS, "must be https://"),
        ({"webhook": {"url": "https://127.0.0.1:9/x"}}, SECRETS, "loopback"),
        ({"webhook": {"url": "https://169.254.169.254/x"}}, SECRETS, "metadata"),
        (
            {"webhook": {"url": "http://169.254.169.254/"}, "allowLoopback": True},
            SECRETS,
            "metadata",
        ),
        (
            {"github": {"repository": "a/b", "apiURL": "https://localhost/api"}},
            SECRETS,
            "localhost",
        ),
    ],
)
def test_receivers_the_controller_must_not_call_are_refused(
    config: dict[str, object], secrets: NotifySecrets, message: str
) -> None:
    with pytest.raises(NotifyConfigError, match=message):
        make(config, secrets)


def test_a_secret_webhook_url_is_never_in_the_refusal() -> None:
    secrets = NotifySecrets(webhook_url="https://127.0.0.1/services/T/B/s3cretpath")
    with pytest.raises(NotifyConfigError) as raised:
        make({"webhook": {}}, secrets)
    assert "s3cretpath" not in str(raised.value)


def test_loopback_over_plain_http_only_when_allowed() -> None:
    to = make({"webhook": {"url": "http://127.0.0.1:8/hook"}, "allowLoopback": True})
    assert to.webhook_url == "http://127.0.0.1:8/hook"
