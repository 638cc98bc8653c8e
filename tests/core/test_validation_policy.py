"""What `modelsync validate` reports when Git asks the workload charts for more than the
controller's policy allows: located findings, and only the affected releases held."""

from __future__ import annotations

from controller.core.chartpolicy import ChartPolicy
from controller.core.findings import Finding
from controller.core.validation import Report
from tests.core.conftest import CLUSTER, Validate, workspace
from tests.core.test_validation import PHI, tuning

CHARTS = """\
  charts:
    values:
      workspace-inference:
        resources: {requests: {cpu: "2"}}
        securityContext:
          privileged: true
"""


def cluster_with(block: str) -> str:
    return CLUSTER.replace("  nodePools:\n", block + "  nodePools:\n", 1)


def policy_findings(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.code == "policy"]


def valid(report: Report) -> dict[str, bool]:
    return {w.path: w.valid for c in report.clusters for w in c.workspaces}


def test_privileged_chart_values_are_refused_at_their_line(validate: Validate) -> None:
    report = validate(
        {
            "clusters/test/cluster.yaml": cluster_with(CHARTS),
            "clusters/test/phi.yaml": workspace(PHI, name="phi"),
            "clusters/test/tune.yaml": tuning(),
        }
    )
    at_cluster, held = policy_findings(report)
    line = cluster_with(CHARTS).splitlines().index("          privileged: true") + 1
    assert (at_cluster.file, at_cluster.line) == ("clusters/test/cluster.yaml", line)
    assert at_cluster.field == "spec.charts.values.workspace-inference.securityContext.privileged"
    assert "privileged" in at_cluster.message
    # The inference Workspace is held and says where the fix goes; the tuning one is not.
    assert held.file == "clusters/test/phi.yaml"
    assert f"clusters/test/cluster.yaml:{line}" in held.message
    assert valid(report) == {"clusters/test/phi.yaml": False, "clusters/test/tune.yaml": True}
    # The cluster itself stays usable; its error holds every prune (core/claims.py).
    [cluster] = report.clusters
    assert cluster.cluster is not None
    assert cluster.claims().everything


def test_the_controllers_policy_decides_not_the_cluster_file(validate: Validate) -> None:
    files = {
        "clusters/test/cluster.yaml": cluster_with(CHARTS),
        "clusters/test/phi.yaml": workspace(PHI, name="phi"),
    }
    allowing = ChartPolicy.from_config({"allowPrivileged": True})
    assert policy_findings(validate(files, policy=allowing)) == []


def test_a_workspace_hostpath_volume_is_refused_where_it_is_written(validate: Validate) -> None:
    text = tuning().replace(
        "{volumeSource: {persistentVolumeClaim: {claimName: out}}}",
        "{volumeSource: {hostPath: {path: /var/lib/kubelet}}}",
    )
    [finding] = policy_findings(validate({"clusters/test/t.yaml": text}))
    assert finding.file == "clusters/test/t.yaml"
    assert finding.field == "tuning.output.volumeSource.hostPath"
    assert (
        finding.line
        == text.splitlines().index(next(line for line in text.splitlines() if "hostPath" in line))
        + 1
    )
    allowing = ChartPolicy.from_config({"extraVolumeTypes": ["hostPath"]})
    assert policy_findings(validate({"clusters/test/t.yaml": text}, policy=allowing)) == []


def test_an_adapter_volume_is_checked_too(validate: Validate) -> None:
    text = workspace(
        PHI
        + "  adapters:\n    - source:\n        name: a\n"
        + "        volumeSource: {hostPath: {path: /}}\n"
    )
    [finding] = policy_findings(validate({"clusters/test/w.yaml": text}))
    assert finding.field == "inference.adapters[0].source.volumeSource.hostPath"


def test_a_chart_source_must_be_allowed_by_the_controller(validate: Validate) -> None:
    files = {
        "clusters/test/cluster.yaml": cluster_with(
            "  charts:\n    repository: https://charts.evil.test\n"
        ),
        "clusters/test/phi.yaml": workspace(PHI, name="phi"),
        "clusters/test/tune.yaml": tuning(),
    }
    report = validate(files)
    [at_cluster, *held] = policy_findings(report)
    assert at_cluster.field == "spec.charts.repository"
    assert "bundled charts only" in at_cluster.message
    assert [f.file for f in held] == ["clusters/test/phi.yaml", "clusters/test/tune.yaml"]
    allowing = ChartPolicy.from_config({"chartRepositories": ["https://charts.evil.test"]})
    assert policy_findings(validate(files, policy=allowing)) == []
