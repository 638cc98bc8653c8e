"""A `modelsync run` process against the local control plane, as a pod of the controller
chart would run it: its own config file, the administrator's kubeconfig, /status on a free
port. Test support for tests/cluster (test_controller_run.py, test_workspace_objects.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.controlplane.cluster import ControlPlane
from tests.support.gitserver import free_port


class Replica:
    """One `modelsync run` process, as a pod of the controller chart would run it."""

    def __init__(self, name: str, config: Path, plane: ControlPlane, namespace: str) -> None:
        self.name = name
        env = os.environ | {"POD_NAME": name, "POD_NAMESPACE": namespace}
        self.port = free_port()
        text = config.read_text() + f"listen: '127.0.0.1:{self.port}'\n"
        own = config.with_name(f"{name}.yaml")
        own.write_text(text)
        command = [sys.executable, "-m", "controller", "run", "--config", str(own)]
        command += ["--kubeconfig", str(plane.kubeconfig)]
        command += ["--state-dir", str(config.parent / f"state-{name}")]
        # The log goes to a file: a pipe nobody reads would block a chatty controller.
        self.log = config.parent / f"{name}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env=env, stderr=log, text=True)

    def status(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/status"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                data: dict[str, Any] = json.load(response)
                return data
        except OSError:
            return {}

    def stop(self) -> str:
        self.process.send_signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        return self.log.read_text()
