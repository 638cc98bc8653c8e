"""Real Git servers on 127.0.0.1 for the adapter tests and the benchmark.

``GitDaemon`` runs ``git daemon``; ``GitHttpServer`` runs ``git http-backend`` as CGI behind
a small HTTP server that wants a token as the basic-auth password (how GitHub and GitLab
take one); ``SshServer`` runs OpenSSH's ``sshd`` with one authorized key; ``SilentServer``
accepts connections and never answers; ``TrickleServer`` answers one byte at a time.
``OriginRepo`` builds a repository commit by commit
with the ``git`` CLI and pushes it to a bare repository those servers export.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

GIT_ENV = {
    "GIT_AUTHOR_NAME": "modelsync tests",
    "GIT_AUTHOR_EMAIL": "tests@modelsync.invalid",
    "GIT_COMMITTER_NAME": "modelsync tests",
    "GIT_COMMITTER_EMAIL": "tests@modelsync.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}
SSHD = shutil.which("sshd") or next(
    (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if Path(p).is_file()), None
)


def git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    """Run ``git`` with a fixed identity and no user config; return stdout, stripped."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        input=stdin,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode().strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.01)
    return False


class _Process:
    """A server subprocess on a free port, restarted on another port if the first is taken."""

    port = 0
    _process: subprocess.Popen[bytes] | None = None

    def _command(self, port: int) -> list[str]:
        raise NotImplementedError

    def start(self) -> Self:
        for _ in range(5):
            port = free_port()
            process = subprocess.Popen(
                self._command(port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, **GIT_ENV},
            )
            if _wait_for_port(port, process):
                self.port, self._process = port, process
                return self
            process.kill()
            process.wait()
        raise RuntimeError(f"{type(self).__name__} did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=5)
            self._process = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class GitDaemon(_Process):
    """``git daemon`` exporting every repository under ``base_path``."""

    def __init__(self, base_path: Path) -> None:
        self.base_path = base_path

    def _command(self, port: int) -> list[str]:
        return [
            "git", "daemon", "--reuseaddr", "--export-all", "--informative-errors",
            f"--base-path={self.base_path}", "--listen=127.0.0.1", f"--port={port}",
            str(self.base_path),
        ]  # fmt: skip

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"


class SshServer(_Process):
    """OpenSSH ``sshd`` letting the current user in with one key and running ``git``."""

    def __init__(self, workdir: Path) -> None:
        if SSHD is None:
            raise RuntimeError("sshd is not installed")
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.host_key = workdir / "host_ed25519"
        self.client_key = workdir / "client_ed25519"
        for key in (self.host_key, self.client_key):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
            )
        (workdir / "authorized_keys").write_text(
            (workdir / "client_ed25519.pub").read_text(encoding="utf-8"), encoding="utf-8"
        )
        self.user = (
            os.environ.get("USER")
            or subprocess.run(
                ["id", "-un"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        if os.geteuid() == 0:  # sshd started by root insists on its privilege-separation dir
            Path("/run/sshd").mkdir(exist_ok=True)

    def _command(self, port: int) -> list[str]:
        options = {
            "ListenAddress": f"127.0.0.1:{port}",
            "HostKey": str(self.host_key),
            "AuthorizedKeysFile": str(self.workdir / "authorized_keys"),
            "PidFile": "none",
            "StrictModes": "no",
            "UsePAM": "no",
            "PasswordAuthentication": "no",
            "KbdInteractiveAuthentication": "no",
            "PermitRootLogin": "prohibit-password",
            "SetEnv": f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}",
        }
        return [
            str(SSHD),
            "-D",
            "-e",
            "-f",
            os.devnull,
            *(f"-o{k}={v}" for k, v in options.items()),
        ]

    def known_hosts_line(self) -> str:
        public = (self.workdir / "host_ed25519.pub").read_text(encoding="utf-8").split()
        return f"[127.0.0.1]:{self.port} {public[0]} {public[1]}\n"

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"


class _BackendHandler(BaseHTTPRequestHandler):
    server: GitHttpServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read failures from the client side."""

    def _authorized(self) -> bool:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        user, _, password = base64.b64decode(value).decode(errors="replace").partition(":")
        return password == self.server.token and self.server.username in (None, user)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        body = self._body()
        if not self._authorized():
            self.server.rejected += 1
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="modelsync tests"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        env = {
            **os.environ,
            "GIT_PROJECT_ROOT": str(self.server.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_USER": "tests",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class GitHttpServer(ThreadingHTTPServer):
    """``git http-backend`` over plain HTTP on loopback, behind a basic-auth token check."""

    daemon_threads = True

    def __init__(self, project_root: Path, token: str, username: str | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _BackendHandler)
        self.project_root = project_root
        self.token = token
        self.username = username
        self.rejected = 0
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()


class SilentServer:
    """A listening socket that completes connections (the kernel does) and never replies."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.port: int = self._socket.getsockname()[1]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._socket.close()


class TrickleServer:
    """Answers every connection with ``prefix`` and then one more byte each ``interval``.

    Stands in for a remote (or a proxy in front of one) that stalls without going silent:
    every read gets a byte before a socket timeout, so only a deadline on the whole
    operation ends it. Bounded: after ``limit`` bytes the connection is closed.
    """

    def __init__(self, prefix: bytes, interval: float = 0.5, limit: int = 60) -> None:
        self._prefix = prefix
        self._interval = interval
        self._limit = limit
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._stop = threading.Event()
        self.port: int = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.sendall(self._prefix)
                for _ in range(self._limit):
                    if self._stop.wait(self._interval):
                        return
                    connection.sendall(b"a")
            except OSError:
                return  # the client gave up: what the tests want

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._socket.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() does not
        self._socket.close()
        self._thread.join(timeout=5)


class OriginRepo:
    """A bare repository under a server's root, and a work tree that commits and pushes to it."""

    def __init__(self, bare: Path, work: Path) -> None:
        self.bare = bare
        self.work = work
        git("init", "-q", "--bare", "-b", "main", str(bare))
        git("init", "-q", "-b", "main", str(work))
        git("remote", "add", "origin", str(bare), cwd=work)

    @property
    def name(self) -> str:
        return self.bare.name

    def git(self, *args: str) -> str:
        return git(*args, cwd=self.work)

    def write(self, path: str, content: str | bytes) -> None:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        target.write_bytes(content)

    def symlink(self, path: str, points_to: str) -> None:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(points_to)

    def remove(self, path: str) -> None:
        self.git("rm", "-q", "-r", path)

    def rename(self, old: str, new: str) -> None:
        (self.work / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)

    def commit(self, message: str = "change", push: bool = True) -> str:
        """Commit everything in the work tree (allowing an empty commit) and push it."""
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        if push:
            self.push()
        return self.git("rev-parse", "HEAD")

    def push(self) -> None:
        self.git("push", "-q", "--force", "--tags", "origin", "+refs/heads/*:refs/heads/*")
