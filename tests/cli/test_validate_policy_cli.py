"""`modelsync validate` and the chart policy: what a pull request may ask of the workload
charts, judged by the strict defaults or by the controller's config given with --policy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controller.adapters.bundled import load_bundle
from controller.adapters.charts import ChartSource
from controller.adapters.files import read_paths
from controller.cli.main import main
from controller.cli.rendercheck import rendered_findings
from controller.core.validation import validate_files

REPO = Path(__file__).resolve().parents[2]
PHI = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {name: phi}
resource: {instanceType: Standard_NC24ads_A100_v4}
inference:
  preset: {name: phi-3.5-mini-instruct}
"""


def with_values(block: str) -> str:
    text = (REPO / "clusters/prod/cluster.yaml").read_text()
    return text.replace("  nodePools:\n", block + "  nodePools:\n", 1)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cluster = tmp_path / "clusters" / "prod"
    cluster.mkdir(parents=True)
    (cluster / "phi.yaml").write_text(PHI)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["validate", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


PRIVILEGED = """\
  charts:
    values:
      workspace-inference:
        securityContext:
          privileged: true
"""


def test_privileged_chart_values_fail_at_the_cluster_file_line(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = with_values(PRIVILEGED)
    (repo / "clusters/prod/cluster.yaml").write_text(text)
    line = text.splitlines().index("          privileged: true") + 1
    code, out, _ = run(capsys)
    assert code == 1, out
    assert (
        f"clusters/prod/cluster.yaml:{line}:11: error: "
        "spec.charts.values.workspace-inference.securityContext.privileged: "
        "privileged containers are not allowed by the policy [policy]"
    ) in out
    assert (
        "clusters/prod/phi.yaml:3:18: error: metadata.name: not applied: "
        f"clusters/prod/cluster.yaml:{line}: "
    ) in out


def test_the_controllers_config_given_with_policy_allows_it(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "clusters/prod/cluster.yaml").write_text(with_values(PRIVILEGED))
    config = repo / "config.yaml"
    config.write_text("cluster: prod\nrepo: {url: /x}\npolicy:\n  allowPrivileged: true\n")
    code, out, _ = run(capsys, "--policy", str(config))
    assert code == 0, out


def test_a_broken_policy_file_is_a_usage_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "clusters/prod/cluster.yaml").write_text(with_values(""))
    config = repo / "policy.yaml"
    config.write_text("policy:\n  allowPrivileged: yes please\n")
    code, _, err = run(capsys, "--policy", str(config))
    assert code == 2
    assert "policy.yaml:2: policy.allowPrivileged: must be true or false" in err


def test_the_render_catches_what_the_values_check_cannot_see(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With root allowed, dropping the container security context is no values finding, but
    the rendered container then allows privilege escalation, which is still refused."""
    text = with_values(
        "  charts:\n    values:\n      workspace-inference:\n        securityContext: null\n"
    )
    (repo / "clusters/prod/cluster.yaml").write_text(text)
    config = repo / "policy.yaml"
    config.write_text("policy: {allowRunAsRoot: true}\n")
    code, out, _ = run(capsys, "--policy", str(config))
    assert code == 1, out
    line = text.splitlines().index("      workspace-inference:") + 1
    assert (
        f"clusters/prod/cluster.yaml:{line}:7: error: spec.charts.values.workspace-inference: "
        in out
    )
    assert "containers[0].securityContext.allowPrivilegeEscalation: must be false" in out


def test_a_chart_whose_templates_loosen_the_pod_is_refused(repo: Path, tmp_path: Path) -> None:
    """A chart from an allowed source renders what its templates say; the rendered check
    judges that, whatever the values were."""
    values = "  charts:\n    values:\n      workspace-inference: {podLabels: {team: a}}\n"
    (repo / "clusters/prod/cluster.yaml").write_text(with_values(values))
    charts = tmp_path / "charts"
    for name in ("workspace-inference", "workspace-tuning", "workspace-rag"):
        shutil.copytree(REPO / "charts" / name, charts / name)
    # The pod spec the Deployment (and a multi-node LeaderWorkerSet) renders.
    podspec = charts / "workspace-inference/templates/_podspec.tpl"
    template = podspec.read_text()
    assert "\nenableServiceLinks: false\n" in template
    podspec.write_text(
        template.replace(
            "\nenableServiceLinks: false\n", "\nenableServiceLinks: false\nhostNetwork: true\n"
        )
    )
    bundle = load_bundle()
    report = validate_files(
        read_paths([Path("clusters")], Path.cwd()), schemas=bundle.schemas, catalog=bundle.catalog
    )
    [finding] = rendered_findings(report, ChartSource(charts))
    assert (finding.file, finding.field, finding.code) == (
        "clusters/prod/cluster.yaml",
        "spec.charts.values.workspace-inference",
        "policy",
    )
    assert "Deployment phi: hostNetwork: hostNetwork is not allowed" in finding.message


def test_render_judges_with_the_policy_given(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = "  charts:\n    values:\n      workspace-inference:\n"
    values += "        securityContext: {runAsNonRoot: null}\n"
    (repo / "clusters/prod/cluster.yaml").write_text(with_values(values))
    assert main(["render", "clusters/prod/phi.yaml"]) == 1
    assert "null removes the chart's runAsNonRoot" in capsys.readouterr().err
    (repo / "root.yaml").write_text("policy: {allowRunAsRoot: true}\n")
    # The pod still says runAsNonRoot: the render passes the policy's rendered check too.
    assert main(["render", "clusters/prod/phi.yaml", "--policy", "root.yaml"]) == 0
    assert "kind: Deployment" in capsys.readouterr().out
