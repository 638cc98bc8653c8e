"""Git credentials: where they come from, how libgit2 gets them, and how they stay out of text.

Adapter layer, beside ``gitsource``. ``GitAuth`` is read from the mounted Secret files
(docs/contracts.md §6) or from ``MODELSYNC_GIT_*`` variables; ``GitCallbacks`` hands it to
libgit2 during one fetch; ``redact`` (core.redaction, re-exported here) scrubs every message
that may leave the process.

SSH host keys: this libgit2 (1.9, libssh2 backend) checks the server key against
``<home>/.ssh/known_hosts`` itself and reports the result as ``valid`` to the certificate
callback; pygit2 does not expose the key. ``gitsource`` therefore points libgit2's home
directory at a folder holding the configured ``known_hosts`` while it talks to the remote,
and ``GitCallbacks.certificate_check`` accepts only what libgit2 found valid (strict for
TLS and SSH alike; without a ``known_hosts`` file the process user's own one is used).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import CredentialType

from controller.core.redaction import redact, split_userinfo

__all__ = ["AuthRejectedError", "GitAuth", "GitCallbacks", "redact", "split_userinfo"]

#: Username sent with a token when none is configured (GitHub, Gitea and GitLab accept it).
DEFAULT_HTTPS_USER = "x-access-token"


def _read_secret(path: Path) -> str | None:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return value or None


@dataclass(frozen=True, repr=False)
class GitAuth:
    """Credentials for one remote; every field optional, secrets never in ``repr``.

    ``token`` goes out as the HTTP basic-auth password (user ``username`` or
    ``x-access-token``); the ssh fields are paths because libssh2 reads key files itself.
    """

    token: str | None = None
    username: str | None = None
    ssh_private_key: Path | None = None
    ssh_public_key: Path | None = None
    ssh_passphrase: str | None = None
    known_hosts: Path | None = None

    def __repr__(self) -> str:
        shown = {
            "token": "***" if self.token else None,
            "username": self.username,
            "ssh_private_key": self.ssh_private_key,
            "ssh_public_key": self.ssh_public_key,
            "ssh_passphrase": "***" if self.ssh_passphrase else None,
            "known_hosts": self.known_hosts,
        }
        return "GitAuth(" + ", ".join(f"{k}={v!r}" for k, v in shown.items() if v) + ")"

    __str__ = __repr__

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values ``redact`` must scrub from any message."""
        return tuple(s for s in (self.token, self.ssh_passphrase) if s)

    @classmethod
    def from_files(cls, directory: Path) -> GitAuth:
        """Read a mounted Secret: ``token``, ``username``, ``ssh-privatekey``,
        ``ssh-publickey``, ``ssh-passphrase``, ``known_hosts``; absent files mean unset."""

        def existing(name: str) -> Path | None:
            path = directory / name
            return path if path.is_file() else None

        return cls(
            token=_read_secret(directory / "token"),
            username=_read_secret(directory / "username"),
            ssh_private_key=existing("ssh-privatekey"),
            ssh_public_key=existing("ssh-publickey"),
            ssh_passphrase=_read_secret(directory / "ssh-passphrase"),
            known_hosts=existing("known_hosts"),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitAuth:
        """Read ``MODELSYNC_GIT_TOKEN`` or ``_TOKEN_FILE``, ``_USERNAME``, ``_SSH_KEY_FILE``,
        ``_SSH_PASSPHRASE``, ``_KNOWN_HOSTS_FILE`` from ``env``."""

        def path(name: str) -> Path | None:
            value = env.get(name)
            return Path(value) if value else None

        token = env.get("MODELSYNC_GIT_TOKEN") or None
        token_file = path("MODELSYNC_GIT_TOKEN_FILE")
        if token and token_file:
            raise ValueError("set MODELSYNC_GIT_TOKEN or MODELSYNC_GIT_TOKEN_FILE, not both")
        if token_file is not None:
            token = _read_secret(token_file)
        return cls(
            token=token,
            username=env.get("MODELSYNC_GIT_USERNAME") or None,
            ssh_private_key=path("MODELSYNC_GIT_SSH_KEY_FILE"),
            ssh_passphrase=env.get("MODELSYNC_GIT_SSH_PASSPHRASE") or None,
            known_hosts=path("MODELSYNC_GIT_KNOWN_HOSTS_FILE"),
        )


class AuthRejectedError(Exception):
    """Raised inside the credentials callback when libgit2 asks again: the remote said no."""


Credential = pygit2.Username | pygit2.UserPass | pygit2.Keypair


class GitCallbacks(pygit2.RemoteCallbacks):
    """libgit2 callbacks for one network operation: credentials, host check, deadline."""

    def __init__(self, auth: GitAuth, deadline: float) -> None:
        super().__init__()
        self._auth = auth
        self._deadline = deadline
        self._offered: set[CredentialType] = set()
        self.rejected_host: str | None = None

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> Credential:
        auth = self._auth
        if allowed_types & CredentialType.USERNAME:
            return pygit2.Username(username_from_url or auth.username or "git")
        if allowed_types & CredentialType.SSH_KEY and auth.ssh_private_key is not None:
            kind = CredentialType.SSH_KEY
        elif allowed_types & CredentialType.USERPASS_PLAINTEXT and auth.token is not None:
            kind = CredentialType.USERPASS_PLAINTEXT
        else:
            raise AuthRejectedError("the remote asks for credentials and none are configured")
        # libgit2 asks again after a refusal; answering twice would only loop.
        if kind in self._offered:
            raise AuthRejectedError("the remote rejected the credentials")
        self._offered.add(kind)
        if kind == CredentialType.SSH_KEY:
            return pygit2.Keypair(
                username_from_url or auth.username or "git",
                auth.ssh_public_key,
                auth.ssh_private_key,
                auth.ssh_passphrase or "",
            )
        return pygit2.UserPass(
            auth.username or username_from_url or DEFAULT_HTTPS_USER, auth.token or ""
        )

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        if not valid:
            self.rejected_host = host.decode("utf-8", "replace")
        return valid

    def transfer_progress(self, stats: pygit2.remotes.TransferProgress) -> None:
        self._check_deadline()

    def sideband_progress(self, string: str) -> None:
        self._check_deadline()

    def _check_deadline(self) -> None:
        if time.monotonic() > self._deadline:
            raise TimeoutError("the fetch ran past its deadline")
