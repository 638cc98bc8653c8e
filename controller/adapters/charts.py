"""Workload charts through the Helm v4 SDK: load once, check values, render offline.

The charts come from the directory shipped with modelsync (``charts/``), or from a Helm
chart repository or OCI registry named in the cluster file; pulled archives are cached by
name and version. Rendering needs no cluster (Helm's ``template``), which is what the
hydrate target, ``modelsync diff`` and ``modelsync render`` use.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

from controller.core.chartpolicy import (
    INFERENCE_CHART,
    TUNING_CHART,
    ChartPolicy,
    manifest_violations,
)
from controller.core.ragrelease import RAG_CHART
from controller.core.releases import DesiredRelease, plain

WORKLOAD_CHARTS = (INFERENCE_CHART, TUNING_CHART, RAG_CHART)
#: The safe loader, in C where PyYAML was built with libyaml.
_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DOCUMENT_SEPARATOR = re.compile(r"\n---[ \t]*(?=\n|$)")


class ChartError(Exception):
    """A chart could not be loaded, its values were refused, or it failed to render."""


class PolicyError(ChartError):
    """The rendered pods break the controller's chart policy: the release is not applied."""

    def __init__(self, release: DesiredRelease, violations: list[str]) -> None:
        self.violations = violations
        shown = "; ".join(violations[:5]) + ("; ..." if len(violations) > 5 else "")
        super().__init__(
            f"{release.chart} {release.chart_version} renders pods the controller's policy "
            f"refuses: {shown}"
        )


class ChartSource:
    """The workload charts, by name and version."""

    def __init__(
        self,
        directory: Path,
        *,
        repository: str = "",
        cache_dir: Path | None = None,
        policy: ChartPolicy | None = None,
    ) -> None:
        self._directory = directory
        self.policy = policy or ChartPolicy()
        self._repository = repository
        self._cache_dir = cache_dir
        self._charts: dict[tuple[str, str, str], helm.Chart] = {}
        self._lock = threading.Lock()

    def versions(self) -> dict[str, str]:
        """The version of each bundled workload chart: the default a release uses."""
        return {name: self._local(name).version for name in WORKLOAD_CHARTS}

    def chart(self, name: str, version: str, repository: str = "") -> helm.Chart:
        """The chart: bundled when the version is, else pulled from ``repository`` (a
        cluster file's source, already allowed by the policy) or the configured one."""
        with self._lock:
            key = (name, version, repository)
            if key not in self._charts:
                local = self._local(name)
                self._charts[key] = (
                    local if local.version == version else self._pull(name, version, repository)
                )
            return self._charts[key]

    def path(self, name: str, version: str, repository: str = "") -> Path:
        """A chart directory or archive the Helm SDK can install from."""
        if self._local(name).version == version:
            return self._directory / name
        self.chart(name, version, repository)
        return self._archive(name, version, repository)

    def render(self, release: DesiredRelease) -> str:
        """The release's manifests as one multi-document YAML, in a stable order."""
        return join_manifests(self.render_files(release))

    def render_files(self, release: DesiredRelease) -> dict[str, str]:
        """The rendered templates, checked against the values schema and the chart policy
        (``PolicyError``): every path to a cluster or a hydrated file goes through here."""
        chart = self.chart(release.chart, release.chart_version, release.repository)
        values: dict[str, Any] = plain(release.values)
        try:
            # render checks the values against values.schema.json itself (as helm template
            # does); a separate validate_schema call would do that work twice.
            files = chart.render(
                values, name=release.name, namespace=release.namespace, is_install=True
            )
        except helm.HelmError as e:
            raise ChartError(f"{release.chart} {release.chart_version}: {e}") from e
        violations = manifest_violations(_objects(files), self.policy)
        if violations:
            raise PolicyError(release, violations)
        return files

    def _local(self, name: str) -> helm.Chart:
        key = (name, "", "")
        if key not in self._charts:
            try:
                self._charts[key] = helm.Chart.load(self._directory / name)
            except helm.HelmError as e:
                raise ChartError(f"cannot load chart {name} from {self._directory}: {e}") from e
        return self._charts[key]

    def _archive(self, name: str, version: str, repository: str = "") -> Path:
        assert self._cache_dir is not None
        if not repository:
            return self._cache_dir / f"{name}-{version}.tgz"
        # Another source's chart of the same name and version is another chart.
        where = hashlib.sha256(repository.encode()).hexdigest()[:16]
        return self._cache_dir / where / f"{name}-{version}.tgz"

    def _pull(self, name: str, version: str, repository: str = "") -> helm.Chart:
        source = repository or self._repository
        if not source or self._cache_dir is None:
            raise ChartError(
                f"chart {name} {version} is not bundled and no repository is set "
                f"(bundled: {self._local(name).version})"
            )
        archive = self._archive(name, version, repository)
        if not archive.exists():
            archive.parent.mkdir(parents=True, exist_ok=True)
            try:
                if source.startswith("oci://"):
                    helm.pull(
                        f"{source.rstrip('/')}/{name}",
                        version=version,
                        destination=str(archive.parent),
                    )
                else:
                    helm.pull(
                        name, repo_url=source, version=version, destination=str(archive.parent)
                    )
            except helm.HelmError as e:
                raise ChartError(f"cannot pull {name} {version} from {source}: {e}") from e
        try:
            return helm.Chart.load(archive)
        except helm.HelmError as e:
            raise ChartError(f"cannot load {archive}: {e}") from e


def _objects(files: Mapping[str, str]) -> list[dict[str, Any]]:
    try:
        documents = list(yaml.load_all(join_manifests(files), Loader=_LOADER))
    except yaml.YAMLError as e:
        raise ChartError(f"the chart rendered invalid YAML: {e}") from e
    return [d for d in documents if isinstance(d, dict)]


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
