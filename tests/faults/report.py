"""The fault suite's table: one row per scenario, as markdown and JSON.

Test support for tests/faults. Each scenario ``record``s its ``Outcome`` before asserting
on it (so a failing row is in the table too); at the end of the session ``conftest.py``
writes ``.modelsync/faults/report.md`` and ``report.json`` and prints the table.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from tests.faults.world import Outcome

REPORT_DIR = Path(__file__).resolve().parents[2] / ".modelsync" / "faults"
OUTCOMES: list[Outcome] = []
COLUMNS = (
    "scenario", "faults injected", "intended", "present", "unintended uninstalls", "lost",
    "orphans", "reinstalls", "converge (s)", "outcome",
)  # fmt: skip


def record(outcome: Outcome) -> Outcome:
    OUTCOMES.append(outcome)
    return outcome


def _row(o: Outcome) -> list[str]:
    converge = "-" if o.converge_s is None else f"{o.converge_s:.1f}"
    verdict = "ok" if o.ok else "FAILED"
    return [
        o.scenario, o.faults, str(o.intended), str(o.present), str(len(o.unintended)),
        str(len(o.lost)), str(len(o.orphans)), str(o.reinstalls), converge,
        verdict + (f" ({o.notes})" if o.notes else ""),
    ]  # fmt: skip


def markdown(outcomes: list[Outcome]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_row(o)) + " |" for o in outcomes]
    totals = (
        f"\n{len(outcomes)} scenarios: "
        f"{sum(len(o.unintended) for o in outcomes)} unintended uninstalls, "
        f"{sum(len(o.lost) for o in outcomes)} lost, {sum(len(o.orphans) for o in outcomes)} "
        f"orphans, {sum(not o.ok for o in outcomes)} failed\n"
    )
    return "\n".join(lines) + "\n" + totals


def write(outcomes: list[Outcome], directory: Path = REPORT_DIR) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    text = markdown(outcomes)
    (directory / "report.md").write_text(text)
    rows = [asdict(o) | {"ok": o.ok} for o in outcomes]
    (directory / "report.json").write_text(json.dumps(rows, indent=1) + "\n")
    return text
