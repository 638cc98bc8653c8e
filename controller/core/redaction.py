"""The one redaction rule for every text that leaves the process.

Pure, beside the rest of the core. Log lines, ``/status``, Events, metrics and error
messages all pass through ``redact`` before they leave (the engine applies it at each of
those exits), so a credential that slipped into a message anywhere upstream is still never
shown. Two things are scrubbed: the known secrets (Git token, SSH passphrase, webhook
secrets, a password taken from the repository URL), and credentials written into any URL:

- ``scheme://user:password@`` keeps the user and hides the password;
- ``http(s)://value@`` hides the value too: over HTTPS the lone user of a URL is where a
  token goes (``https://<token>@github.com/org/repo``);
- ``ssh://git@host`` and scp-like ``git@host:org/repo`` stay as written (a user name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["MASK", "redact", "redact_data", "split_userinfo"]

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]*)@")
_TOKEN_AS_USER = ("http://", "https://")


def _scrub(match: re.Match[str]) -> str:
    scheme, userinfo = match["scheme"], match["userinfo"]
    user, colon, _ = userinfo.partition(":")
    if colon:
        return f"{scheme}{user}:{MASK}@"
    if scheme.lower() in _TOKEN_AS_USER and userinfo:
        return f"{scheme}{MASK}@"
    return match.group(0)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with URL credentials and every given secret replaced by ``***``."""
    text = _USERINFO.sub(_scrub, text)
    # Longest first: a secret that contains another must not be left half shown.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact_data(value: Any, secrets: Iterable[str | None] = ()) -> Any:
    """``value`` (JSON-like: dicts, lists, strings) with every string redacted."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact(str(k), secrets): redact_data(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v, secrets) for v in value]
    return value


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """Split the credentials ``redact`` would hide out of a URL: the bare URL, the user and
    the password. ``https://<token>@host`` gives the token as the user and no password;
    ``ssh://git@host`` and scp-like ``git@host:org/x.git`` are returned as they are.
    """
    match = _USERINFO.match(url)
    if match is None or _scrub(match) == match.group(0):
        return url, None, None
    user, colon, password = match["userinfo"].partition(":")
    bare = match["scheme"] + url[match.end() :]
    return bare, user or None, (password or None) if colon else None
