"""Workload charts through the Helm v4 SDK: load once, check values, render offline.

The charts come from the directory shipped with modelsync (``charts/``), or from a Helm
chart repository or OCI registry named in the cluster file; pulled archives are cached by
name and version. Rendering needs no cluster (Helm's ``template``), which is what the
hydrate target, ``modelsync diff`` and ``modelsync render`` use.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import helm_python as helm

from controller.core.ragrelease import RAG_CHART
from controller.core.releases import INFERENCE_CHART, TUNING_CHART, DesiredRelease, plain

WORKLOAD_CHARTS = (INFERENCE_CHART, TUNING_CHART, RAG_CHART)
_DOCUMENT_SEPARATOR = re.compile(r"\n---[ \t]*(?=\n|$)")


class ChartError(Exception):
    """A chart could not be loaded, its values were refused, or it failed to render."""


class ChartSource:
    """The workload charts, by name and version."""

    def __init__(
        self, directory: Path, *, repository: str = "", cache_dir: Path | None = None
    ) -> None:
        self._directory = directory
        self._repository = repository
        self._cache_dir = cache_dir
        self._charts: dict[tuple[str, str], helm.Chart] = {}
        self._lock = threading.Lock()

    def versions(self) -> dict[str, str]:
        """The version of each bundled workload chart: the default a release uses."""
        return {name: self._local(name).version for name in WORKLOAD_CHARTS}

    def chart(self, name: str, version: str) -> helm.Chart:
        with self._lock:
            key = (name, version)
            if key not in self._charts:
                local = self._local(name)
                self._charts[key] = local if local.version == version else self._pull(name, version)
            return self._charts[key]

    def path(self, name: str, version: str) -> Path:
        """A chart directory or archive the Helm SDK can install from."""
        if self._local(name).version == version:
            return self._directory / name
        self.chart(name, version)
        return self._archive(name, version)

    def render(self, release: DesiredRelease) -> str:
        """The release's manifests as one multi-document YAML, in a stable order."""
        return join_manifests(self.render_files(release))

    def render_files(self, release: DesiredRelease) -> dict[str, str]:
        chart = self.chart(release.chart, release.chart_version)
        values: dict[str, Any] = plain(release.values)
        try:
            # render checks the values against values.schema.json itself (as helm template
            # does); a separate validate_schema call would do that work twice.
            return chart.render(
                values, name=release.name, namespace=release.namespace, is_install=True
            )
        except helm.HelmError as e:
            raise ChartError(f"{release.chart} {release.chart_version}: {e}") from e

    def _local(self, name: str) -> helm.Chart:
        key = (name, "")
        if key not in self._charts:
            try:
                self._charts[key] = helm.Chart.load(self._directory / name)
            except helm.HelmError as e:
                raise ChartError(f"cannot load chart {name} from {self._directory}: {e}") from e
        return self._charts[key]

    def _archive(self, name: str, version: str) -> Path:
        assert self._cache_dir is not None
        return self._cache_dir / f"{name}-{version}.tgz"

    def _pull(self, name: str, version: str) -> helm.Chart:
        if not self._repository or self._cache_dir is None:
            raise ChartError(
                f"chart {name} {version} is not bundled and no repository is set "
                f"(bundled: {self._local(name).version})"
            )
        archive = self._archive(name, version)
        if not archive.exists():
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            try:
                if self._repository.startswith("oci://"):
                    helm.pull(
                        f"{self._repository.rstrip('/')}/{name}",
                        version=version,
                        destination=str(self._cache_dir),
                    )
                else:
                    helm.pull(
                        name,
                        repo_url=self._repository,
                        version=version,
                        destination=str(self._cache_dir),
                    )
            except helm.HelmError as e:
                raise ChartError(
                    f"cannot pull {name} {version} from {self._repository}: {e}"
                ) from e
        try:
            return helm.Chart.load(archive)
        except helm.HelmError as e:
            raise ChartError(f"cannot load {archive}: {e}") from e


def join_manifests(files: Mapping[str, str]) -> str:
    """Rendered templates -> one YAML stream like ``helm template``'s, empty ones dropped."""
    parts = []
    for path in sorted(files):
        if not path.endswith((".yaml", ".yml")):
            continue  # NOTES.txt and other text
        for document in _DOCUMENT_SEPARATOR.split("\n" + files[path]):
            if any(
                line.strip() and not line.lstrip().startswith("#") for line in document.splitlines()
            ):
                parts.append(f"# Source: {path}\n{document.strip()}\n")
    return "".join(f"---\n{part}" for part in parts)
