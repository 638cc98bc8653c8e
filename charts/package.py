"""Build the Helm chart repository: lint, package and index every chart under charts/.

`make charts` runs `python charts/package.py --out dist/charts`. Each chart is linted in
strict mode (warnings fail too) with every ci/*-values.yaml scenario, as chart-testing does,
or with its defaults when it has no scenarios; then packaged with the Helm SDK into the
output directory, which gets an index.yaml (`helm repo index`). With --url the index
entries point at that base URL (the GitHub Pages site chart-releaser publishes).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python

CHARTS_DIR = Path(__file__).resolve().parent
# The oldest Kubernetes the charts support (Chart.yaml kubeVersion >=1.29 is the floor;
# the project tests against 1.33 and newer).
LINT_KUBE_VERSION = "v1.33.0"
_SEVERITY = {1: "INFO", 2: "WARNING", 3: "ERROR"}


class ChartRepoError(Exception):
    """A chart failed lint or could not be packaged."""


@dataclass(frozen=True)
class LintFinding:
    chart: str
    scenario: str
    severity: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.chart} [{self.scenario}] {self.severity} {self.path}: {self.message}"


@dataclass(frozen=True)
class Packaged:
    name: str
    version: str
    archive: Path
    digest: str


def chart_dirs(root: Path = CHARTS_DIR) -> list[Path]:
    return sorted(path.parent for path in root.glob("*/Chart.yaml"))


def lint_scenarios(chart_dir: Path) -> list[tuple[str, dict[str, Any] | None]]:
    """(name, values) pairs to lint with: every ci scenario, else the defaults."""
    files = sorted((chart_dir / "ci").glob("*-values.yaml"))
    if not files:
        return [("defaults", None)]
    return [
        (
            path.name.removesuffix("-values.yaml"),
            helm_python.values_from_yaml(path.read_text(encoding="utf-8")),
        )
        for path in files
    ]


def lint_chart(chart_dir: Path) -> list[LintFinding]:
    """Findings worse than INFO; an empty list means the chart is clean."""
    findings: list[LintFinding] = []
    for scenario, values in lint_scenarios(chart_dir):
        report = helm_python.lint(chart_dir, values, strict=True, kube_version=LINT_KUBE_VERSION)
        found = [
            LintFinding(
                chart=chart_dir.name,
                scenario=scenario,
                severity=_SEVERITY.get(int(message["severity"]), "UNKNOWN"),
                path=str(message["path"]),
                message=" ".join(str(message["error"]).split()),
            )
            for message in report["messages"]
            if int(message["severity"]) >= 2
        ]
        if report["errors"] and not any(item.severity == "ERROR" for item in found):
            found += [
                LintFinding(chart_dir.name, scenario, "ERROR", "", " ".join(str(error).split()))
                for error in report["errors"]
            ]
        findings += found
    return findings


def package_chart(chart_dir: Path, out: Path) -> Packaged:
    try:
        archive = Path(helm_python.package(chart_dir, destination=out))
        with helm_python.Chart.load(archive) as chart:
            name, version = chart.name, chart.version
        digest = helm_python.digest(archive)
    except helm_python.HelmError as e:
        raise ChartRepoError(f"cannot package {chart_dir.name}: {e}") from e
    return Packaged(name, version, archive, digest)


def build_repository(
    out: Path, *, url: str | None = None, charts: Sequence[Path] | None = None
) -> tuple[list[Packaged], dict[str, Any]]:
    """Lint every chart, then package them all into out and index out."""
    chart_paths = list(charts) if charts is not None else chart_dirs()
    if not chart_paths:
        raise ChartRepoError("no charts found")
    findings = [finding for path in chart_paths for finding in lint_chart(path)]
    if findings:
        raise ChartRepoError("lint failed:\n" + "\n".join(f"  {f}" for f in findings))
    out.mkdir(parents=True, exist_ok=True)
    packaged = [package_chart(path, out) for path in chart_paths]
    try:
        index = helm_python.repo_index_generate(out, base_url=url)
    except helm_python.HelmError as e:
        raise ChartRepoError(f"cannot index {out}: {e}") from e
    return packaged, index


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="repository directory to write")
    parser.add_argument("--url", help="base URL of the published repository (index entries)")
    parser.add_argument(
        "charts", nargs="*", type=Path, help="chart directories (default: every chart in charts/)"
    )
    args = parser.parse_args(argv)
    try:
        packaged, index = build_repository(args.out, url=args.url, charts=args.charts or None)
    except ChartRepoError as e:
        print(f"charts: {e}", file=sys.stderr)
        return 1
    width = max(len(item.name) for item in packaged)
    for item in packaged:
        print(f"{item.name:<{width}}  {item.version:<8}  {item.archive}  {item.digest}")
    entries = index.get("entries", {})
    print(f"index: {args.out / 'index.yaml'} ({len(entries)} charts: {', '.join(sorted(entries))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
