"""A fake Hugging Face Hub on 127.0.0.1 for `modelsync presets add`'s Hub path.

It stands in for huggingface.co's documented layout: ``/api/models/{repo}/revision/{rev}``
(the commit, the file list, the gating), ``/{repo}/resolve/{rev}/{file}`` (a file, Range
requests honoured by werkzeug as the Hub's CDN honours them), and the refusals the Hub
makes with an ``X-Error-Code`` header: RepoNotFound (401 to a caller without a token, as the
Hub answers so as not to reveal private repos), RevisionNotFound, EntryNotFound, GatedRepo
(401 without a token, 403 with a token that has no access). Safetensors files are served
through a redirect to ``localhost`` (another host name for the same server), as the Hub
redirects weights to its CDN, so a test can check that the token does not follow.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


@dataclass
class FakeRepo:
    files: Path
    sha: str
    refs: dict[str, str] = field(default_factory=dict)
    token: str | None = None  # set: the repo is gated and only this token is granted access


@dataclass(frozen=True)
class Seen:
    host: str
    path: str
    authorization: str | None
    range: str | None
    sent: int  # body bytes sent


@dataclass
class FakeHub:
    repos: dict[str, FakeRepo]
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        response = self._answer(request)
        body = response.get_data()
        self.seen.append(
            Seen(
                request.host.split(":")[0],
                request.path,
                request.headers.get("Authorization"),
                request.headers.get("Range"),
                len(body) if request.method == "GET" else 0,
            )
        )
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
            return self._info(request, "/".join(parts[2:4]), "/".join(parts[5:]))
        if parts[0] == "cdn" and len(parts) >= 5:
            repo = self.repos["/".join(parts[1:3])]
            return _file(request, repo.files / "/".join(parts[4:]))
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve(request, "/".join(parts[:2]), parts[3], "/".join(parts[4:]))
        return _refuse(404, "")

    def _repo(self, request: Request, name: str) -> FakeRepo | Response:
        repo = self.repos.get(name)
        if repo is None:
            return _refuse(404 if "Authorization" in request.headers else 401, "RepoNotFound")
        return repo

    def _info(self, request: Request, name: str, revision: str) -> Response:
        repo = self._repo(request, name)
        if isinstance(repo, Response):
            return repo
        if revision not in (repo.sha, "main", *repo.refs):
            return _refuse(404, "RevisionNotFound")
        sha = repo.refs.get(revision, repo.sha)
        files = sorted(p.relative_to(repo.files).as_posix() for p in repo.files.rglob("*"))
        info = {
            "id": name,
            "sha": sha,
            "gated": "manual" if repo.token else False,
            "siblings": [{"rfilename": f} for f in files],
        }
        return Response(json.dumps(info), content_type="application/json")

    def _resolve(self, request: Request, name: str, revision: str, file: str) -> Response:
        repo = self._repo(request, name)
        if isinstance(repo, Response):
            return repo
        if repo.token is not None:
            given = request.headers.get("Authorization")
            if given is None:
                return _refuse(401, "GatedRepo")
            if given != f"Bearer {repo.token}":
                return _refuse(403, "GatedRepo")
        if revision != repo.sha and revision not in repo.refs:
            return _refuse(404, "RevisionNotFound")
        path = repo.files / file
        if not path.is_file():
            return _refuse(404, "EntryNotFound")
        if file.endswith(".safetensors"):
            host = f"localhost:{request.host.split(':')[1]}"
            response = Response(status=302)
            response.headers["Location"] = f"http://{host}/cdn/{name}/{repo.sha}/{file}"
            response.headers["X-Repo-Commit"] = repo.sha
            return response
        response = _file(request, path)
        response.headers["X-Repo-Commit"] = repo.sha
        return response


def _file(request: Request, path: Path) -> Response:
    data = path.read_bytes()
    response = Response(data, content_type="application/octet-stream")
    return response.make_conditional(request, accept_ranges=True, complete_length=len(data))


def _refuse(status: int, code: str) -> Response:
    response = Response(f"refused: {code}", status=status)
    if code:
        response.headers["X-Error-Code"] = code
    return response


@contextmanager
def serving(hub: FakeHub) -> Iterator[FakeHub]:
    server = make_server("127.0.0.1", 0, hub, threaded=True)
    hub.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        thread.join(timeout=10)
