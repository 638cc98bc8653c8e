"""One `modelsync run` process, as a pod of the controller chart would run it.

Test support for tests/cluster and tests/faults: the real controller process started from a
config file, its own listener on a free port (``status()`` reads ``/status``), its own state
folder, and the signals a node would send it: SIGTERM (``stop``), SIGKILL (``kill``, an OOM
kill or a lost node), SIGSTOP/SIGCONT (``pause``/``resume``, a frozen VM or a long GC).
Its log goes to a file beside the config, so a scenario can quote it on failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.support.gitserver import free_port


class Replica:
    def __init__(
        self,
        name: str,
        config: Path,
        kubeconfig: Path,
        namespace: str,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.port = free_port()
        own = config.with_name(f"{name}.yaml")
        own.write_text(config.read_text() + f"listen: '127.0.0.1:{self.port}'\n")
        self.log = config.with_name(f"{name}.log")
        self._command = [sys.executable, "-m", "controller", "run", "--config", str(own)]
        self._command += ["--kubeconfig", str(kubeconfig)]
        self._command += ["--state-dir", str(config.parent / f"state-{name}"), *args]
        self._env = os.environ | {"POD_NAME": name, "POD_NAMESPACE": namespace} | dict(env or {})
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[str]:
        with self.log.open("a") as log:
            return subprocess.Popen(self._command, env=self._env, stderr=log, text=True)

    def status(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/status"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                data: dict[str, Any] = json.load(response)
                return data
        except OSError:
            return {}

    def kill(self) -> None:
        """SIGKILL: no pass finishes, no Lease is given up."""
        self.process.kill()
        self.process.wait(timeout=30)

    def restart(self) -> None:
        """Start again after ``kill``, with the same config, state folder and port."""
        self.process = self._spawn()

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def resync(self) -> None:
        """SIGHUP: a full pass now (releases read again even if Git has not changed)."""
        self.process.send_signal(signal.SIGHUP)

    def stop(self) -> str:
        """SIGTERM (after SIGCONT: a paused process cannot act on it); returns the log."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)
        return self.log.read_text(errors="replace")
