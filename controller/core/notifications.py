"""Notifications of rollouts: which receivers, and the HTTP requests they get.

Pure, built like lightkube's ``prepare_request``: ``receivers`` turns the controller
config's ``notifications`` section (already checked against
schemas/controller-config.schema.json) plus the secrets read from their files into
``Receivers``, refusing a URL the controller must not call; ``requests_for`` turns a
``Rollout`` into plain ``Request`` values that ``adapters/httpsend.py`` sends.

Two receivers, like Flux notification-controller's ``github`` and ``generic-hmac``
providers:

- a GitHub commit status, ``POST {api}/repos/{owner}/{repo}/statuses/{sha}`` with context
  ``modelsync/<cluster>``, on the commit that was applied;
- a JSON webhook: Slack's ``{"text": ...}`` plus the structured fields, signed with
  ``X-Modelsync-Signature-256: sha256=<HMAC-SHA256 of the body>`` (GitHub's scheme) when
  an HMAC key is set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.core.destinations import refused_url
from controller.core.rollouts import Rollout, RolloutState
from controller.core.webhooks import github_signature

__all__ = [
    "SIGNATURE_HEADER",
    "NotifyConfigError",
    "NotifySecrets",
    "Receivers",
    "Request",
    "github_repository",
    "receivers",
    "requests_for",
]

SIGNATURE_HEADER = "X-Modelsync-Signature-256"
GITHUB_API = "https://api.github.com"
_GITHUB_URL = re.compile(
    r"^(?:https://(?:[^@/]*@)?github\.com/|git@github\.com:|ssh://git@github\.com/)"
    r"(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$"
)
_ICONS = {
    RolloutState.SUCCESS: ":white_check_mark:",
    RolloutState.FAILURE: ":x:",
    RolloutState.PENDING: ":hourglass_flowing_sand:",
}
_VERBS = {
    RolloutState.SUCCESS: "succeeded",
    RolloutState.FAILURE: "failed",
    RolloutState.PENDING: "is in progress",
}


class NotifyConfigError(ValueError):
    """The notifications section names a receiver the controller must not call."""


@dataclass(frozen=True)
class NotifySecrets:
    """Read from the files of the mounted Secret; never from Git or the ConfigMap."""

    github_token: str = ""
    webhook_url: str = ""
    webhook_hmac: str = ""


@dataclass(frozen=True)
class Receivers:
    cluster: str
    github_repository: str = ""  # owner/name; "" = no commit statuses
    github_api: str = GITHUB_API
    github_token: str = ""
    webhook_url: str = ""  # "" = no webhook
    webhook_hmac: str = ""
    events: frozenset[RolloutState] = frozenset(RolloutState)
    timeout: float = 10.0

    @property
    def any(self) -> bool:
        return bool(self.github_repository or self.webhook_url)


@dataclass(frozen=True)
class Request:
    """One HTTP request to send. ``receiver`` names it in logs; headers are never logged."""

    receiver: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


def github_repository(repo_url: str) -> str:
    """``owner/name`` of a github.com clone URL, else ``""``."""
    match = _GITHUB_URL.match(repo_url)
    return match["repo"] if match else ""


def receivers(
    config: Mapping[str, Any],
    secrets: NotifySecrets,
    *,
    cluster: str,
    repo_url: str,
    timeout: float,
) -> Receivers:
    """The receivers ``config`` asks for, or NotifyConfigError saying why one is refused.

    A GitHub section without a repository uses the repository the controller follows
    when that is on github.com. Receivers must be https:// and off this machine, the
    link-local range and cloud metadata addresses (core.destinations), unless
    ``allowLoopback`` lets them be plain http on loopback (tests, a sidecar).
    """
    allow_loopback = bool(config.get("allowLoopback", False))
    github = config.get("github")
    webhook = config.get("webhook")
    repository, api = "", GITHUB_API
    if github is not None:
        repository = str(github.get("repository") or "") or github_repository(repo_url)
        if not repository:
            raise NotifyConfigError(
                "notifications.github.repository: not given, and repo.url is not a github.com "
                "URL to read it from"
            )
        if not secrets.github_token:
            raise NotifyConfigError(
                "notifications.github: no token (the notifications Secret's github-token key)"
            )
        api = str(github.get("apiURL") or GITHUB_API).rstrip("/")
        _check("notifications.github.apiURL", api, allow_loopback)
    url = ""
    if webhook is not None:
        url = str(webhook.get("url") or "") or secrets.webhook_url
        if not url:
            raise NotifyConfigError(
                "notifications.webhook.url: not given, and the notifications Secret has no "
                "webhook-url key"
            )
        # The URL may be a secret (Slack's is): the message names the key, never the value.
        _check("notifications.webhook.url", url, allow_loopback, show=False)
    events = config.get("events")
    return Receivers(
        cluster=cluster,
        github_repository=repository,
        github_api=api,
        github_token=secrets.github_token,
        webhook_url=url,
        webhook_hmac=secrets.webhook_hmac,
        events=frozenset(RolloutState(e) for e in events) if events else frozenset(RolloutState),
        timeout=timeout,
    )


def _check(key: str, url: str, allow_loopback: bool, *, show: bool = True) -> None:
    shown = f" {url}" if show else ""
    if not allow_loopback and not url.lower().startswith("https://"):
        raise NotifyConfigError(f"{key}:{shown} must be https:// (allowLoopback: plain http)")
    why = refused_url(url, allow_loopback=allow_loopback)
    if why is not None:
        raise NotifyConfigError(f"{key}:{shown} refused: it {why}")


def requests_for(rollout: Rollout, to: Receivers) -> list[Request]:
    """The requests that report ``rollout`` to every receiver that wants its state."""
    if rollout.state not in to.events:
        return []
    out = []
    if to.github_repository:
        out.append(_github_status(rollout, to))
    if to.webhook_url:
        out.append(_webhook(rollout, to))
    return out


def _github_status(rollout: Rollout, to: Receivers) -> Request:
    body = {
        "state": rollout.state.value,
        "context": f"modelsync/{rollout.cluster}",
        "description": rollout.description,
    }
    return Request(
        "github",
        "POST",
        f"{to.github_api}/repos/{to.github_repository}/statuses/{rollout.commit}",
        {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {to.github_token}",
            "X-GitHub-Api-Version": "2022-11-28",
            "Content-Type": "application/json",
        },
        json.dumps(body).encode(),
    )


def _webhook(rollout: Rollout, to: Receivers) -> Request:
    text = (
        f"{_ICONS[rollout.state]} modelsync/{rollout.cluster}: rollout of "
        f"{rollout.commit[:12]} {_VERBS[rollout.state]}: {rollout.description}"
    )
    payload = {
        "text": text,
        "cluster": rollout.cluster,
        "commit": rollout.commit,
        "state": rollout.state.value,
        "description": rollout.description,
        "ready": rollout.ready,
        "total": rollout.total,
        "failures": [
            {
                "namespace": f.namespace,
                "workspace": f.workspace,
                "file": f.file,
                "reason": f.reason,
                "message": f.message,
            }
            for f in rollout.failures
        ],
    }
    body = json.dumps(payload, sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if to.webhook_hmac:
        headers[SIGNATURE_HEADER] = github_signature(to.webhook_hmac.encode(), body)
    return Request("webhook", "POST", to.webhook_url, headers, body)
