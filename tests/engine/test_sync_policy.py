"""The chart policy in reconcile passes: what Git may not ask of the workload pods is not
applied, the release it would change keeps what it has, and the others go on.

Passes run against a real git daemon into the hydrate target, whose files are exactly what
a Helm release would apply (the helm target renders the same way before it installs).
"""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import helm_python
import pytest

from controller.adapters.bundled import load_bundle
from controller.adapters.charts import ChartSource
from controller.adapters.gitsource import GitRef, GitSource
from controller.adapters.hydrate import HydrateTarget
from controller.core.chartpolicy import ChartPolicy
from controller.engine.sync import Syncer
from tests.engine.test_sync_hydrate import CLUSTER, actions, workspace
from tests.support.gitserver import GitDaemon, OriginRepo

REPO = Path(__file__).resolve().parents[2]
PRIVILEGED = """\
  charts:
    values:
      workspace-inference:
        securityContext: {privileged: true}
"""


def syncer(
    origin: OriginRepo, daemon: GitDaemon, tmp: Path, charts: ChartSource, policy: ChartPolicy
) -> Syncer:
    bundle = load_bundle()
    return Syncer(
        source=GitSource(daemon.url(origin.name), GitRef(branch="main"), tmp / "cache"),
        target=HydrateTarget(tmp / "out", charts, "edge"),
        schemas=bundle.schemas,
        catalog=bundle.catalog,
        charts=charts,
        cluster="edge",
        chart_policy=policy,
    )


def seeded(origin: OriginRepo) -> None:
    origin.write("clusters/edge/cluster.yaml", CLUSTER)
    for name in ("alpha", "beta"):
        origin.write(f"clusters/edge/{name}.yaml", workspace(name))
    origin.commit("initial")


def test_privileged_cluster_values_are_not_applied_and_nothing_is_pruned(
    git_origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path
) -> None:
    seeded(git_origin)
    charts = ChartSource(load_bundle().charts_dir)
    sync = syncer(git_origin, git_daemon, tmp_path, charts, ChartPolicy())
    assert actions(sync.run_pass()) == {"alpha": "install:ok", "beta": "install:ok"}
    before = (tmp_path / "out/edge/default/alpha.yaml").read_text()

    git_origin.write(
        "clusters/edge/cluster.yaml", CLUSTER.replace("spec:\n", "spec:\n" + PRIVILEGED)
    )
    git_origin.commit("privileged vLLM")
    result = sync.run_pass()

    assert actions(result) == {}
    assert result.report is not None
    codes = {f.code for w in result.report.workspaces for f in w.findings}
    assert codes == {"policy"}
    assert (tmp_path / "out/edge/default/alpha.yaml").read_text() == before
    assert "privileged: true" not in before


def test_a_workspace_host_volume_holds_that_release_only(
    git_origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path
) -> None:
    seeded(git_origin)
    charts = ChartSource(load_bundle().charts_dir)
    sync = syncer(git_origin, git_daemon, tmp_path, charts, ChartPolicy())
    sync.run_pass()
    hostile = workspace("alpha").replace(
        "inference:\n",
        "inference:\n  adapters:\n    - source: {name: a, volumeSource: {hostPath: {path: /}}}\n",
    )
    git_origin.write("clusters/edge/alpha.yaml", hostile)
    git_origin.write(
        "clusters/edge/beta.yaml",
        workspace("beta", extra="  annotations: {modelsync.dev/max-model-len: '4096'}\n"),
    )
    git_origin.commit("alpha mounts the node; beta shorter")
    result = sync.run_pass()
    assert actions(result) == {"beta": "upgrade:ok"}
    assert "hostPath" not in (tmp_path / "out/edge/default/alpha.yaml").read_text()


def test_a_chart_rendering_refused_pods_is_not_applied(
    git_origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path
) -> None:
    """A chart from an allowed source whose templates ask for the host network: the rendered
    check refuses each release, the pass goes on and reports it, no file is written."""
    seeded(git_origin)
    charts_dir = tmp_path / "charts"
    for name in ("workspace-inference", "workspace-tuning", "workspace-rag"):
        shutil.copytree(REPO / "charts" / name, charts_dir / name)
    # The pod spec the Deployment (and a multi-node LeaderWorkerSet) renders.
    podspec = charts_dir / "workspace-inference/templates/_podspec.tpl"
    template = podspec.read_text()
    assert "\nenableServiceLinks: false\n" in template
    podspec.write_text(
        template.replace(
            "\nenableServiceLinks: false\n", "\nenableServiceLinks: false\nhostNetwork: true\n"
        )
    )
    sync = syncer(git_origin, git_daemon, tmp_path, ChartSource(charts_dir), ChartPolicy())
    result = sync.run_pass()
    assert actions(result) == {"alpha": "install:failed", "beta": "install:failed"}
    assert all("hostNetwork is not allowed" in r.message for r in result.results)
    assert all(not r.retryable for r in result.results)
    assert not (tmp_path / "out/edge/default/alpha.yaml").exists()
    allowing = ChartPolicy(allow_host_namespaces=True)
    again = syncer(
        git_origin, git_daemon, tmp_path / "2", ChartSource(charts_dir, policy=allowing), allowing
    )
    assert actions(again.run_pass()) == {"alpha": "install:ok", "beta": "install:ok"}


@pytest.fixture
def chart_repo(tmp_path: Path) -> Iterator[str]:
    """A Helm chart repository over HTTP holding workspace-inference 0.9.0, whose pods carry
    the label source=acme: the platform team's own build of the chart."""
    source = tmp_path / "acme-src"
    shutil.copytree(REPO / "charts/workspace-inference", source)
    chart_yaml = source / "Chart.yaml"
    chart_yaml.write_text(
        "\n".join(
            "version: 0.9.0" if line.startswith("version:") else line
            for line in chart_yaml.read_text().splitlines()
        )
        + "\n"
    )
    values = source / "values.yaml"
    values.write_text(values.read_text().replace("podLabels: {}", "podLabels: {source: acme}"))
    served = tmp_path / "acme-repo"
    served.mkdir()
    helm_python.package(source, destination=served)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    helm_python.repo_index_generate(served, base_url=url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_a_chart_source_the_policy_allows_is_the_one_used(
    git_origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path, chart_repo: str
) -> None:
    charts_block = f"  charts: {{repository: '{chart_repo}', version: 0.9.0}}\n"
    git_origin.write(
        "clusters/edge/cluster.yaml", CLUSTER.replace("spec:\n", "spec:\n" + charts_block)
    )
    git_origin.write("clusters/edge/alpha.yaml", workspace("alpha"))
    git_origin.commit("acme's chart")

    strict = ChartPolicy()
    charts = ChartSource(load_bundle().charts_dir, cache_dir=tmp_path / "c1", policy=strict)
    refused = syncer(git_origin, git_daemon, tmp_path / "strict", charts, strict).run_pass()
    assert actions(refused) == {}
    assert refused.report is not None
    assert [f.field for f in refused.report.findings] == ["spec.charts.repository"]

    allowing = ChartPolicy(chart_repositories=(chart_repo,))
    charts = ChartSource(load_bundle().charts_dir, cache_dir=tmp_path / "c2", policy=allowing)
    result = syncer(git_origin, git_daemon, tmp_path / "allowed", charts, allowing).run_pass()
    assert actions(result) == {"alpha": "install:ok"}
    rendered = (tmp_path / "allowed/out/edge/default/alpha.yaml").read_text()
    assert "helm.sh/chart: workspace-inference-0.9.0" in rendered
    assert "source: acme" in rendered
