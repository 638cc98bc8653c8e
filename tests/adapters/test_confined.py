"""Confined writes under the hydrate output: concurrent renders share new directories."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from controller.adapters.confined import Confined


def test_concurrent_writes_create_the_same_new_directory_without_failing(tmp_path: Path) -> None:
    # The Syncer renders several releases at once; the first writes of a pass all create
    # <cluster>/<namespace>/ together. One round is a race; many rounds make it show.
    for round_ in range(40):
        files = Confined(tmp_path / f"out-{round_}")
        start = threading.Barrier(8)

        def write(i: int, files: Confined = files, start: threading.Barrier = start) -> None:
            start.wait(timeout=10)
            files.write(f"edge/team-{i % 2}/release-{i}.yaml", b"kind: ConfigMap\n")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(write, range(8)))
        written = sorted(p.name for p in (tmp_path / f"out-{round_}").rglob("*.yaml"))
        assert written == sorted(f"release-{i}.yaml" for i in range(8))
