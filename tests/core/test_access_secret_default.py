"""A cluster-wide HF token Secret for gated models (spec.defaults.modelAccessSecret).

KAITO's images carry the weights; modelsync downloads them, so a gated model needs a token.
The cluster default lets KAITO Workspaces run unedited; without it the finding stays.
"""

from __future__ import annotations

from controller.core.releases import desired_releases
from tests.core.conftest import CLUSTER, Validate, workspace

VERSIONS = {"workspace-inference": "0.1.0", "workspace-tuning": "0.1.0"}
WITH_DEFAULT = CLUSTER.replace(
    "  namespaces: [default, team-a]\n",
    "  namespaces: [default, team-a]\n  defaults: {modelAccessSecret: hf-token}\n",
)


def gated(secret: str = "") -> str:
    options = f"\n    presetOptions: {{modelAccessSecret: {secret}}}" if secret else ""
    return workspace(
        "resource: {instanceType: Standard_NC24ads_A100_v4}\n"
        f"inference:\n  preset:\n    name: llama-3.1-8b-instruct{options}\n"
    )


def test_without_a_default_a_gated_model_still_needs_its_own_secret(validate: Validate) -> None:
    report = validate({"clusters/test/w.yaml": gated()})
    (finding,) = [f for f in report.findings if f.code == "access"]
    assert finding.field == "inference.preset.presetOptions.modelAccessSecret"
    assert "spec.defaults.modelAccessSecret" in finding.message


def test_the_cluster_default_satisfies_a_gated_model_and_reaches_the_chart_values(
    validate: Validate,
) -> None:
    report = validate({"clusters/test/cluster.yaml": WITH_DEFAULT, "clusters/test/w.yaml": gated()})
    assert report.errors == 0, report.findings
    [release] = desired_releases(report.clusters[0], VERSIONS)
    assert release.values["model"]["accessSecret"] == "hf-token"


def test_the_workspaces_own_secret_wins_and_open_models_get_none(validate: Validate) -> None:
    open_model = workspace(
        "resource: {instanceType: Standard_NC24ads_A100_v4}\n"
        "inference: {preset: {name: phi-3.5-mini-instruct}}\n",
        name="phi",
    )
    report = validate(
        {
            "clusters/test/cluster.yaml": WITH_DEFAULT.replace("maxNodes: 2", "maxNodes: 3"),
            "clusters/test/w.yaml": gated("team-token"),
            "clusters/test/phi.yaml": open_model,
        }
    )
    assert report.errors == 0, report.findings
    secrets = {
        r.name: r.values["model"]["accessSecret"]
        for r in desired_releases(report.clusters[0], VERSIONS)
    }
    assert secrets == {"ws": "team-token", "phi": ""}


def test_an_empty_default_is_refused_by_the_cluster_schema(validate: Validate) -> None:
    empty = WITH_DEFAULT.replace("modelAccessSecret: hf-token", "modelAccessSecret: ''")
    report = validate({"clusters/test/cluster.yaml": empty})
    assert any(
        f.file == "clusters/test/cluster.yaml" and "modelAccessSecret" in f.field
        for f in report.findings
    )
