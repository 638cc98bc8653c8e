"""RAGEngines in a clusters repo: validated, placed, resolved, released and pruned like
Workspaces. One behaviour per test, all pure (no chart is rendered here)."""

from __future__ import annotations

import textwrap

from controller.core.capacity import Assignment, assignments, cluster_usage
from controller.core.claims import source_id
from controller.core.findings import Finding, Severity
from controller.core.planning import Action, ObservedRelease, ReleaseState, plan
from controller.core.ragengines import RAGEngine
from controller.core.releases import (
    LABEL_CLUSTER,
    LABEL_MANAGED_BY,
    LABEL_SOURCE,
    LABEL_WORKSPACE,
    MANAGER,
    desired_releases,
)
from controller.core.validation import Report
from controller.core.workspacefile import WorkspaceResult
from tests.core.conftest import CLUSTER, Validate, workspace

PHI = "resource: {instanceType: Standard_NC24ads_A100_v4}\n" + (
    "inference:\n  preset: {name: phi-3.5-mini-instruct}\n"
)
TUNE = """\
resource: {instanceType: Standard_NC24ads_A100_v4}
tuning:
  preset: {name: phi-3.5-mini-instruct}
  method: lora
  input: {urls: ["https://example.com/data.parquet"]}
  output: {image: "registry.example.com/adapter:1", imagePushSecret: push}
"""
VERSIONS = {"workspace-inference": "1.0.0", "workspace-tuning": "1.0.0", "workspace-rag": "0.1.0"}


def rag(spec: str, *, name: str = "docs", namespace: str | None = None) -> str:
    meta = f"metadata:\n  name: {name}\n" + (f"  namespace: {namespace}\n" if namespace else "")
    body = "spec:\n" + textwrap.indent(textwrap.dedent(spec), "  ")
    return "apiVersion: kaito.sh/v1alpha1\nkind: RAGEngine\n" + meta + body


LOCAL = "embedding:\n  local: {modelID: BAAI/bge-small-en-v1.5}\n"


def answered_by(url: str, window: int = 4096) -> str:
    return LOCAL + f"inferenceService: {{url: '{url}', contextWindowSize: {window}}}\n"


def errors(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.is_error]


def result_of(report: Report, path: str) -> WorkspaceResult:
    return next(w for c in report.clusters for w in c.workspaces if w.path == path)


def test_kaitos_example_validates_and_runs_on_cpu_without_an_instance_type(
    validate: Validate,
) -> None:
    report = validate({"clusters/test/rag.yaml": rag(LOCAL)})
    assert report.findings == ()
    result = result_of(report, "clusters/test/rag.yaml")
    assert isinstance(result.workspace, RAGEngine)
    assert result.placed
    assert result.placement is None
    [release] = desired_releases(report.clusters[0], VERSIONS)
    assert (release.chart, release.name, release.namespace) == ("workspace-rag", "docs", "default")
    values = release.values
    assert values["embedding"] == {"model": "BAAI/bge-small-en-v1.5", "device": "cpu"}
    assert values["persistence"] == {"enabled": False, "existingClaim": ""}
    assert "resources" not in values  # the chart's CPU defaults


def test_schema_errors_are_located_at_the_field(validate: Validate) -> None:
    text = rag(LOCAL + "inferenceService: {url: 'ftp://x', contextWindowSize: 4096}\n")
    [finding] = errors(validate({"clusters/test/rag.yaml": text}))
    assert finding.field == "spec.inferenceService.url"
    assert (finding.file, finding.line) == ("clusters/test/rag.yaml", 8)
    typo = rag(LOCAL.replace("local:", "locl:"))
    messages = [f.message for f in errors(validate({"clusters/test/rag.yaml": typo}))]
    assert any("did you mean 'local'" in m for m in messages)


def test_the_embedding_model_is_placed_on_the_instance_types_pool(validate: Validate) -> None:
    text = rag("compute: {instanceType: Standard_NC24ads_A100_v4}\n" + LOCAL)
    report = validate({"clusters/test/rag.yaml": text})
    assert report.findings == ()
    result = result_of(report, "clusters/test/rag.yaml")
    assert result.placement is not None
    assert (result.placement.pool.name, result.placement.gpus) == ("a100", 1)
    [release] = desired_releases(report.clusters[0], VERSIONS)
    assert release.values["nodeSelector"] == {"agentpool": "a100"}
    assert release.values["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert release.values["embedding"]["device"] == "cuda"


def test_placement_follows_the_workspace_rules(validate: Validate) -> None:
    unknown = rag("compute: {instanceType: Standard_NC24ads_A100_v9}\n" + LOCAL)
    [finding] = errors(validate({"clusters/test/rag.yaml": unknown}))
    assert finding.field == "spec.compute.instanceType"
    assert "did you mean 'Standard_NC24ads_A100_v4'" in finding.message
    # The h100 pool's sku taint: a RAGEngine has no tolerations, so it cannot go there.
    tainted = rag("compute: {instanceType: Standard_ND96isr_H100_v5}\n" + LOCAL)
    [finding] = errors(validate({"clusters/test/rag.yaml": tainted}))
    assert finding.code == "fit"
    assert "sku=h100:NoSchedule are not tolerated" in finding.message


def test_rag_engines_count_against_pool_capacity(validate: Validate) -> None:
    on_a10 = "metadata:\n  name: {}\n  annotations: {{modelsync.dev/pool: a10}}\n"
    files = {
        f"clusters/test/{name}.yaml": rag(LOCAL, name=name).replace(
            f"metadata:\n  name: {name}\n", on_a10.format(name)
        )
        for name in ("one", "two")
    }
    [finding] = errors(validate(files))
    assert finding.code == "capacity"
    assert finding.field == "spec.compute"


def test_the_inference_url_resolves_to_a_workspace_of_the_cluster(validate: Validate) -> None:
    for url in (
        "http://phi/v1",
        "http://phi.team-a/v1/chat/completions",
        "http://phi.team-a.svc.cluster.local:80/v1/chat/completions",
    ):
        report = validate(
            {
                "clusters/test/phi.yaml": workspace(PHI, name="phi", namespace="team-a"),
                "clusters/test/rag.yaml": rag(answered_by(url), namespace="team-a"),
            }
        )
        assert errors(report) == [], url
        result = result_of(report, "clusters/test/rag.yaml")
        assert result.inference is not None
        assert (result.inference.workspace, result.inference.model) == (
            "phi",
            "phi-3.5-mini-instruct",
        )
        rag_release = next(
            d for d in desired_releases(report.clusters[0], VERSIONS) if d.name == "docs"
        )
        assert rag_release.values["inference"]["model"] == "phi-3.5-mini-instruct"
        assert rag_release.values["inference"]["url"] == url


def test_an_inference_url_naming_no_workspace_is_an_error(validate: Validate) -> None:
    report = validate(
        {
            "clusters/test/phi.yaml": workspace(PHI, name="phi"),
            "clusters/test/rag.yaml": rag(answered_by("http://phy.default.svc/v1")),
        }
    )
    [finding] = errors(report)
    assert finding.field == "spec.inferenceService.url"
    assert "no Workspace default/phy" in finding.message
    assert "did you mean 'phi'" in finding.message
    # The valid Workspace is released all the same.
    assert [d.name for d in desired_releases(report.clusters[0], VERSIONS)] == ["phi"]


def test_an_inference_url_naming_a_tuning_workspace_is_an_error(validate: Validate) -> None:
    report = validate(
        {
            "clusters/test/tune.yaml": workspace(TUNE, name="tune"),
            "clusters/test/rag.yaml": rag(answered_by("http://tune/v1")),
        }
    )
    [finding] = errors(report)
    assert "a tuning Workspace" in finding.message


def test_hosts_outside_the_clusters_namespaces_are_taken_as_written(validate: Validate) -> None:
    for url in (
        "https://api.example.com/v1",
        "http://llm.other-team.svc/v1",
        "http://x.com/v1",
        "http://localhost:8000/v1",
        "http://10.0.0.7/v1",
    ):
        report = validate({"clusters/test/rag.yaml": rag(answered_by(url))})
        assert errors(report) == [], url
        assert result_of(report, "clusters/test/rag.yaml").inference is None


def test_a_context_window_over_the_workspaces_is_a_warning(validate: Validate) -> None:
    phi = workspace(PHI, name="phi").replace(  # it serves 8192 tokens at most
        "name: phi\n", "name: phi\n  annotations: {modelsync.dev/max-model-len: '8192'}\n"
    )
    report = validate(
        {
            "clusters/test/phi.yaml": phi,
            "clusters/test/rag.yaml": rag(answered_by("http://phi/v1", window=16384)),
        }
    )
    assert errors(report) == []
    [warning] = [f for f in report.findings if f.severity is Severity.WARNING]
    assert warning.field == "spec.inferenceService.contextWindowSize"


def test_what_the_chart_cannot_serve_is_refused_at_its_field(validate: Validate) -> None:
    remote = rag("embedding:\n  remote: {url: 'https://embed.example.com'}\n")
    [finding] = errors(validate({"clusters/test/rag.yaml": remote}))
    assert finding.field == "spec.embedding.remote"
    store = rag(LOCAL + "storage:\n  vectorDB: {engine: faiss, url: 'http://db:1'}\n")
    [finding] = errors(validate({"clusters/test/rag.yaml": store}))
    assert finding.field == "spec.storage.vectorDB.url"


def test_a_storage_claim_keeps_the_indexes(validate: Validate) -> None:
    text = rag(LOCAL + "storage: {persistentVolumeClaim: docs-index}\n")
    report = validate({"clusters/test/rag.yaml": text})
    [release] = desired_releases(report.clusters[0], VERSIONS)
    assert release.values["persistence"] == {"enabled": True, "existingClaim": "docs-index"}


def test_a_workspace_and_a_rag_engine_may_not_share_a_name(validate: Validate) -> None:
    report = validate(
        {
            "clusters/test/a.yaml": workspace(PHI, name="docs"),
            "clusters/test/b.yaml": rag(LOCAL, name="docs"),
        }
    )
    [finding] = errors(report)
    assert (finding.file, finding.code) == ("clusters/test/b.yaml", "duplicate")


def observed(name: str, source: str) -> ObservedRelease:
    labels = {
        LABEL_MANAGED_BY: MANAGER,
        LABEL_CLUSTER: "test",
        LABEL_WORKSPACE: name,
        LABEL_SOURCE: source,
    }
    return ObservedRelease(name, "default", 1, "deployed", labels, chart="workspace-rag")


def test_a_removed_rag_engine_is_pruned_and_a_broken_one_is_kept(validate: Validate) -> None:
    before = observed("docs", source_id("clusters/test/rag.yaml"))
    gone = validate({"clusters/test/phi.yaml": workspace(PHI, name="phi")}).clusters[0]
    steps = plan(desired_releases(gone, VERSIONS), [before], cluster="test", claims=gone.claims())
    docs = next(s for s in steps.steps if s.name == "docs")
    assert (docs.state, docs.action) == (ReleaseState.ORPHANED, Action.UNINSTALL)

    broken = validate(
        {"clusters/test/rag.yaml": rag(LOCAL.replace("modelID", "modelId"))}
    ).clusters[0]
    steps = plan(
        desired_releases(broken, VERSIONS), [before], cluster="test", claims=broken.claims()
    )
    [docs] = steps.steps
    assert (docs.state, docs.action) == (ReleaseState.HELD, Action.NONE)
    assert "clusters/test/rag.yaml is invalid" in docs.reason


def test_an_engine_whose_workspace_is_in_a_broken_file_waits_for_it(validate: Validate) -> None:
    report = validate(
        {
            "clusters/test/phi.yaml": "kind: Workspace\nmetadata: [\n",
            "clusters/test/rag.yaml": rag(answered_by("http://phi/v1")),
        }
    )
    finding = next(f for f in errors(report) if f.file == "clusters/test/rag.yaml")
    assert "cannot be read now (clusters/test/phi.yaml cannot be read" in finding.message
    assert desired_releases(report.clusters[0], VERSIONS) == []  # its release is kept as is


def test_the_clusters_rag_chart_values_lie_under_modelsyncs(validate: Validate) -> None:
    cluster = CLUSTER + (
        "  charts:\n    values:\n      workspace-rag:\n"
        "        retrieval: {defaultTopK: 3}\n        embedding: {device: cuda, batchSize: 8}\n"
    )
    report = validate({"clusters/test/cluster.yaml": cluster, "clusters/test/rag.yaml": rag(LOCAL)})
    assert errors(report) == []
    [release] = desired_releases(report.clusters[0], VERSIONS)
    assert release.values["retrieval"] == {"defaultTopK": 3}
    assert release.values["embedding"]["batchSize"] == 8
    assert release.values["embedding"]["device"] == "cpu"  # modelsync's placement wins


def test_the_status_page_shows_a_rag_engines_embedding_model_and_pool(validate: Validate) -> None:
    on_gpu = rag("compute: {instanceType: Standard_NC24ads_A100_v4}\n" + LOCAL, name="gpu")
    report = validate(
        {"clusters/test/cpu.yaml": rag(LOCAL, name="cpu"), "clusters/test/gpu.yaml": on_gpu}
    )
    rows = assignments(report.clusters[0])
    assert rows[("default", "cpu")] == Assignment("BAAI/bge-small-en-v1.5")
    assert rows[("default", "gpu")] == Assignment("BAAI/bge-small-en-v1.5", "a100", 1)
    [a100] = [p for p in cluster_usage(report.clusters[0]) if p.name == "a100"]
    assert a100.used == 1


def test_an_inference_url_on_another_port_than_the_services_is_an_error(
    validate: Validate,
) -> None:
    report = validate(
        {
            "clusters/test/phi.yaml": workspace(PHI, name="phi"),
            "clusters/test/rag.yaml": rag(answered_by("http://phi.default.svc:5000/v1")),
        }
    )
    [finding] = errors(report)
    assert finding.message == "Workspace default/phi's Service listens on port 80, not 5000"
