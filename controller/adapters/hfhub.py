"""A model revision's small files from the Hugging Face Hub, for ``modelsync presets add``.

The Hub's documented layout, asked with ``requests`` (docs/decisions.md says why not
``huggingface_hub``): ``GET {endpoint}/api/models/{repo}/revision/{rev}`` resolves a branch
or tag to its commit (``sha``), lists the files (``siblings``) and says whether the repo is
gated; ``GET {endpoint}/{repo}/resolve/{sha}/{file}`` serves a file at that commit. Every
file is read at the resolved commit, so the preset pins the revision its figures came from.
A safetensors file is never downloaded: two HTTP Range requests read its 8-byte header
length and then the JSON header, which is all ``read_snapshot`` looks at.

Errors become ``HubError`` (the command exits 2): a missing token for a gated or private
repo, a refused token, a missing repo, revision or file, an unreachable endpoint. The token
goes only into the Authorization header; messages carry the Hub's status and error code,
never a response body or a header we sent.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from controller import __version__
from controller.adapters.hfsnapshot import header_length, parse_header

DEFAULT_ENDPOINT = "https://huggingface.co"
#: Seconds to connect and to wait for each read; the files asked for are small.
TIMEOUT = (10.0, 60.0)
_ASK_FOR_ACCESS = "set HF_TOKEN (or pass --token-file FILE)"


class HubError(Exception):
    """The Hub could not give the files; the message says why and what to do."""


def hub_endpoint(env: Mapping[str, str] = os.environ) -> str:
    return (env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_token(token_file: Path | None, env: Mapping[str, str] = os.environ) -> str | None:
    """``--token-file`` first, then ``$HF_TOKEN``; None when neither is set."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise HubError(f"cannot read --token-file {token_file}: {e.strerror}") from e
        if not token:
            raise HubError(f"--token-file {token_file} is empty")
        return token
    return env.get("HF_TOKEN", "").strip() or None


@dataclass(frozen=True)
class HubSnapshot:
    """One commit of a Hub model repository; implements ``hfsnapshot.SnapshotFiles``."""

    hf_id: str
    revision: str
    endpoint: str
    files: frozenset[str]
    gated: bool
    session: requests.Session
    token_given: bool

    @property
    def origin(self) -> str:
        return f"the Hub ({self.endpoint})"

    def has(self, name: str) -> bool:
        return name in self.files

    def text(self, name: str) -> str | None:
        if name not in self.files:
            return None
        response = self._get(name)
        response.encoding = "utf-8"
        return response.text

    def header(self, name: str) -> dict[str, Any]:
        where = self.where(name)
        length = header_length(self._range(name, 0, 8), where)
        return parse_header(self._range(name, 8, length), where)

    def where(self, name: str) -> str:
        return f"{self.endpoint}/{self.hf_id}/resolve/{self.revision}/{name}"

    def close(self) -> None:
        self.session.close()

    def _range(self, name: str, start: int, length: int) -> bytes:
        """``length`` bytes from ``start``; a server that ignores Range is read no further."""
        end = start + length - 1
        with self._get(name, stream=True, headers={"Range": f"bytes={start}-{end}"}) as response:
            skip = start if response.status_code == 200 else 0
            data = bytearray()
            for chunk in response.iter_content(chunk_size=65536):
                data += chunk
                if len(data) >= skip + length:
                    break
        return bytes(data[skip : skip + length])

    def _get(
        self, name: str, *, stream: bool = False, headers: Mapping[str, str] | None = None
    ) -> requests.Response:
        return _send(
            self.session,
            self.endpoint,
            self.where(name),
            f"{self.hf_id}/{name}",
            token_given=self.token_given,
            stream=stream,
            headers=headers,
        )


def open_hub(
    hf_id: str,
    revision: str | None,
    *,
    token: str | None,
    env: Mapping[str, str] = os.environ,
) -> HubSnapshot:
    """Resolve ``revision`` (default ``main``) on the Hub and list the files at that commit."""
    endpoint = hub_endpoint(env)
    session = requests.Session()
    session.headers["User-Agent"] = f"modelsync/{__version__}"
    if token:
        # requests drops this header on a redirect to another host (the Hub's CDN), as it must.
        session.headers["Authorization"] = f"Bearer {token}"
    rev = revision or "main"
    url = f"{endpoint}/api/models/{hf_id}/revision/{quote(rev, safe='')}"
    response = _send(session, endpoint, url, f"{hf_id}@{rev}", token_given=token is not None)
    try:
        info = response.json()
        sha = info["sha"]
        files = frozenset(s["rfilename"] for s in info.get("siblings") or ())
    except (ValueError, KeyError, TypeError) as e:
        raise HubError(f"{url} did not answer with a model's info ({type(e).__name__})") from e
    if not isinstance(sha, str) or len(sha) != 40:
        raise HubError(f"{url} gave no 40-hex commit for {rev!r}")
    return HubSnapshot(
        hf_id,
        sha,
        endpoint,
        files,
        bool(info.get("gated")),
        session,
        token_given=token is not None,
    )


def _send(
    session: requests.Session,
    endpoint: str,
    url: str,
    what: str,
    *,
    token_given: bool,
    stream: bool = False,
    headers: Mapping[str, str] | None = None,
) -> requests.Response:
    try:
        response = session.get(url, stream=stream, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as e:
        raise HubError(
            f"cannot reach {endpoint} ({type(e).__name__}); `--from DIR` or a snapshot in the "
            "Hugging Face cache works offline"
        ) from e
    if response.status_code in (200, 206):
        return response
    response.close()
    raise HubError(_refusal(response, what, token_given=token_given))


def _refusal(response: requests.Response, what: str, *, token_given: bool) -> str:
    """The message for a refused request: the Hub's X-Error-Code says which refusal it is."""
    status = response.status_code
    code = response.headers.get("X-Error-Code", "")
    if code == "RepoNotFound" or (status == 404 and not code):
        hint = "" if token_given else f"; if it is private, {_ASK_FOR_ACCESS}"
        return f"{what} is not on the Hub (HTTP {status}, {code or 'not found'}){hint}"
    if code == "RevisionNotFound":
        return f"{what}: no such revision on the Hub (HTTP {status})"
    if code == "EntryNotFound" or status == 404:
        return f"{what}: no such file at that revision (HTTP {status})"
    if status in (401, 403):
        if not token_given:
            return (
                f"{what}: the Hub needs a token (HTTP {status}{', ' + code if code else ''}): "
                f"the model is gated or private; {_ASK_FOR_ACCESS} to a token of an account "
                "that has been granted access"
            )
        return (
            f"{what}: the Hub refused the token (HTTP {status}{', ' + code if code else ''}): "
            "check that it is valid and that its account was granted access to the model"
        )
    return f"{what}: the Hub answered HTTP {status}{' ' + code if code else ''}"
