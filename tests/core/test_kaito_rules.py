"""KAITO's formats and admission rules: v1alpha1, several documents, annotations, images,
partitions, adapters, tuning, and every problem of a file reported at once (issue 12)."""

from __future__ import annotations

import pytest

from controller.core.findings import Finding, Severity
from controller.core.imagerefs import image_problem
from controller.core.specs import Workspace
from controller.core.validation import Report
from tests.core.conftest import Validate, workspace

PHI = """\
resource:
  instanceType: Standard_NC24ads_A100_v4
inference:
  preset: {name: phi-3.5-mini-instruct}
"""
TUNING = """\
resource:
  instanceType: Standard_NC24ads_A100_v4
tuning:
  preset: {{name: phi-3.5-mini-instruct}}
  method: {method}
  input: {{urls: ["https://example.com/data.parquet"]}}
  output: {{volumeSource: {{emptyDir: {{}}}}}}
"""


def errors(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.is_error]


def notes(report: Report, code: str) -> list[Finding]:
    return [f for f in report.findings if f.code == code]


def test_a_v1alpha1_workspace_is_converted_with_a_note(validate: Validate) -> None:
    text = workspace(PHI).replace("kaito.sh/v1beta1", "kaito.sh/v1alpha1")
    report = validate({"clusters/test/w.yaml": text})
    assert errors(report) == []
    (note,) = notes(report, "converted")
    assert (note.severity, note.line, note.field) == (Severity.INFO, 1, "apiVersion")
    workspaces = report.clusters[0].workspaces
    assert workspaces[0].valid


def test_a_v1alpha1_workspace_without_instance_type_gets_kaitos_default(
    validate: Validate,
) -> None:
    body = PHI.replace("  instanceType: Standard_NC24ads_A100_v4\n", "  count: 1\n")
    text = workspace(body).replace("kaito.sh/v1beta1", "kaito.sh/v1alpha1")
    report = validate({"clusters/test/w.yaml": text})
    assert errors(report) == []
    ws = report.clusters[0].workspaces[0].workspace
    assert ws is not None
    assert ws.instance_type == "Standard_NC24ads_A100_v4"
    assert "defaults to Standard_NC24ads_A100_v4" in notes(report, "converted")[0].message


def test_v1beta1_only_fields_are_refused_in_v1alpha1(validate: Validate) -> None:
    body = PHI.replace(
        "{name: phi-3.5-mini-instruct}",
        "{name: phi-3.5-mini-instruct, presetOptions: {modelAccessSecret: hf}}",
    )
    text = workspace(body).replace("kaito.sh/v1beta1", "kaito.sh/v1alpha1")
    (error,) = errors(validate({"clusters/test/w.yaml": text}))
    assert error.field == "inference.preset.presetOptions.modelAccessSecret"
    assert "not a kaito.sh/v1alpha1 field" in error.message


def test_each_document_of_a_file_is_its_own_workspace_located_in_the_file(
    validate: Validate,
) -> None:
    first = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: params}\ndata: {a: b}\n"
    second = workspace(PHI, name="one")
    third = workspace(PHI.replace("phi-3.5-mini-instruct", "phi-3.5-mini-instruc"), name="two")
    report = validate({"clusters/test/w.yaml": "---\n".join([first, second, third])})
    results = report.clusters[0].workspaces
    assert [r.workspace.name if r.workspace else None for r in results] == [None, "one", "two"]
    assert [r.valid for r in results] == [False, True, False]
    (error,) = errors(report)
    third_starts = len((first + "---\n" + second + "---\n").splitlines()) + 1
    assert error.field == "inference.preset.name"
    assert error.line == third_starts + 7
    assert "did you mean 'phi-3.5-mini-instruct'" in error.message


def test_a_schema_error_does_not_hide_the_other_findings(validate: Validate) -> None:
    body = """\
    resource:
      instanceType: Standard_NC24ads_A100_v4
    inference:
      preset:
        name: llama-3.1-8b-instruc
        presetOptions: {modelAccessSecret: Bad_Secret}
    """
    text = workspace(body).replace("kind: Workspace\n", "kind: Workspace\nextra: 1\n")
    found = {(f.field, f.code) for f in errors(validate({"clusters/test/w.yaml": text}))}
    assert found == {
        ("extra", "schema"),
        ("inference.preset.presetOptions.modelAccessSecret", "schema"),
        ("inference.preset.name", "preset"),
    }


def test_findings_about_a_field_the_schema_refused_are_not_repeated(validate: Validate) -> None:
    body = TUNING.format(method="lora").replace("https://example.com", "ftp://127.0.0.1")
    found = errors(validate({"clusters/test/w.yaml": workspace(body)}))
    assert [(f.field, f.code) for f in found] == [("tuning.input.urls[0]", "schema")]


@pytest.mark.parametrize("method", ["QLoRA", "LoRA", "qlora"])
def test_the_tuning_method_is_read_in_any_case(validate: Validate, method: str) -> None:
    report = validate({"clusters/test/w.yaml": workspace(TUNING.format(method=method))})
    assert errors(report) == []
    ws = report.clusters[0].workspaces[0].workspace
    assert isinstance(ws, Workspace)
    assert ws.tuning is not None
    assert ws.tuning.method == method.lower()


def test_tuning_on_several_nodes_and_an_image_without_push_secret_are_errors(
    validate: Validate,
) -> None:
    body = (
        TUNING.format(method="lora")
        .replace("Standard_NC24ads_A100_v4\n", "Standard_NC24ads_A100_v4\n  count: 2\n")
        .replace("{volumeSource: {emptyDir: {}}}", "{image: 'acr.io/adapter:1'}")
    )
    found = {f.field for f in errors(validate({"clusters/test/w.yaml": workspace(body)}))}
    assert found == {"resource.count", "tuning.output.imagePushSecret"}


def test_adapter_names_are_dns_subdomains(validate: Validate) -> None:
    name = "adapter.v1." + "a" * 200
    body = PHI + f"  adapters:\n    - source: {{name: {name}, image: 'acr.io/a:1'}}\n"
    assert errors(validate({"clusters/test/w.yaml": workspace(body)})) == []
    body = PHI + "  adapters:\n    - source: {name: Adapter_1, image: 'acr.io/a:1'}\n"
    (error,) = errors(validate({"clusters/test/w.yaml": workspace(body)}))
    assert error.field == "inference.adapters[0].source.name"


@pytest.mark.parametrize(
    ("annotation", "value", "severity"),
    [
        ("kaito.sh/performance-mode", "fast", Severity.ERROR),
        ("kaito.sh/use-local-weights", "yes", Severity.ERROR),
        ("kaito.sh/node-image-family", "windows", Severity.ERROR),
        ("kaito.sh/runtime", "transformers", Severity.WARNING),
        ("kaito.sh/perfomance-mode", "balanced", Severity.WARNING),
    ],
)
def test_kaito_annotations_are_checked(
    validate: Validate, annotation: str, value: str, severity: Severity
) -> None:
    text = workspace(PHI).replace(
        "  name: ws\n", f"  name: ws\n  annotations: {{{annotation}: '{value}'}}\n"
    )
    found = [f for f in validate({"clusters/test/w.yaml": text}).findings if f.code == "annotation"]
    assert [(f.field, f.severity, f.line) for f in found] == [
        (f"metadata.annotations.{annotation}", severity, 5)
    ]


@pytest.mark.parametrize(
    "annotation",
    ["kaito.sh/performance-mode: throughput", "kaito.sh/node-image-family: ' AzureLinux'"],
)
def test_valid_kaito_annotations_pass(validate: Validate, annotation: str) -> None:
    text = workspace(PHI).replace("  name: ws\n", f"  name: ws\n  annotations: {{{annotation}}}\n")
    assert validate({"clusters/test/w.yaml": text}).findings == ()


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("!ValidImage", "repository path component"),
        ("ACR_REPO_HERE.azurecr.io/IMAGE_NAME_HERE:0.0.1", "registry host"),
        ("acr.io/Upper/name:1", "repository path component"),
        ("acr.io/name:bad tag", "invalid tag"),
        ("acr.io/name@sha256:abc", "invalid digest"),
        ("a" * 64, "64-hex image id"),
        ("acr.io//name", "repository path component"),
    ],
)
def test_image_references_kaito_cannot_parse_are_refused(reference: str, problem: str) -> None:
    found = image_problem(reference)
    assert found is not None
    assert problem in found


@pytest.mark.parametrize(
    "reference",
    [
        "aimodels.azurecr.io/data-image:latest",
        "data-image:latest",
        "localhost:5000/team/model__v1:1.0",
        "MyRegistry.io/name",
        "[::1]:5000/name",
        f"mcr.microsoft.com/aks/kaito/kaito-base:0.2.0@sha256:{'a' * 64}",
    ],
)
def test_image_references_kaito_parses_pass(reference: str) -> None:
    assert image_problem(reference) is None


def test_an_image_kaito_cannot_parse_is_located(validate: Validate) -> None:
    body = PHI + "  adapters:\n    - source: {name: a, image: 'acr.io/A:1'}\n"
    (error,) = errors(validate({"clusters/test/w.yaml": workspace(body)}))
    assert (error.field, error.code, error.line) == (
        "inference.adapters[0].source.image",
        "image",
        10,
    )


def test_partition_rules(validate: Validate) -> None:
    mig = PHI.replace(
        "  instanceType: Standard_NC24ads_A100_v4\n",
        "  labelSelector: {matchLabels: {app: x}}\n  partition: {mode: mig, profile: 1g.10gb}\n",
    )
    (error,) = errors(validate({"clusters/test/w.yaml": workspace(mig)}))
    assert error.field == "resource.partition.mode"
    both = PHI.replace(
        "Standard_NC24ads_A100_v4\n",
        "Standard_NC24ads_A100_v4\n  partition: {mode: accelerator, profile: x}\n",
    )
    found = {f.field for f in errors(validate({"clusters/test/w.yaml": workspace(both)}))}
    assert found == {"resource.instanceType", "resource.partition.profile", "resource.partition"}


def test_an_accelerator_partition_is_read_with_a_note(validate: Validate) -> None:
    body = PHI.replace(
        "  instanceType: Standard_NC24ads_A100_v4\n",
        "  labelSelector: {matchLabels: {app: x}}\n  partition: {mode: accelerator, count: 2}\n",
    )
    report = validate({"clusters/test/w.yaml": workspace(body)})
    assert errors(report) == []
    assert [f.severity for f in notes(report, "partition")] == [Severity.INFO]


@pytest.mark.parametrize(
    ("selector", "field"),
    [
        ("{matchLabels: {kaito.sh/workspace: x}}", "resource.labelSelector.matchLabels"),
        (
            "{matchExpressions: [{key: a, operator: Exists}]}",
            "resource.labelSelector.matchExpressions[0]",
        ),
    ],
)
def test_selectors_kaito_cannot_read_as_node_labels(
    validate: Validate, selector: str, field: str
) -> None:
    body = PHI.replace(
        "Standard_NC24ads_A100_v4\n", f"Standard_NC24ads_A100_v4\n  labelSelector: {selector}\n"
    )
    (error,) = errors(validate({"clusters/test/w.yaml": workspace(body)}))
    assert error.field == field


def test_a_status_written_by_kaito_is_ignored_with_a_note(validate: Validate) -> None:
    text = workspace(PHI) + "status:\n  state: Ready\n  workerNodes: [aks-gpu-1]\n"
    report = validate({"clusters/test/w.yaml": text})
    assert errors(report) == []
    (note,) = notes(report, "status")
    assert (note.severity, note.line) == (Severity.INFO, 9)


def test_urls_are_not_an_adapter_source(validate: Validate) -> None:
    body = PHI + "  adapters:\n    - source: {name: a, urls: ['https://example.com/a.bin']}\n"
    found = {(f.field, f.code) for f in errors(validate({"clusters/test/w.yaml": workspace(body)}))}
    assert ("inference.adapters[0].source.urls", "adapters") in found


def test_a_v1alpha1_workspace_nested_under_spec_gets_the_default_there(
    validate: Validate,
) -> None:
    text = (
        "apiVersion: kaito.sh/v1alpha1\nkind: Workspace\nmetadata: {name: ws}\nspec:\n"
        "  resource: {count: 1}\n  inference: {preset: {name: phi-3.5-mini-instruct}}\n"
    )
    report = validate({"clusters/test/w.yaml": text})
    assert errors(report) == []
    ws = report.clusters[0].workspaces[0].workspace
    assert ws is not None
    assert ws.instance_type == "Standard_NC24ads_A100_v4"
    assert {f.code for f in report.findings} == {"converted", "normalized"}


def test_a_missing_required_field_hides_only_what_depends_on_it(validate: Validate) -> None:
    body = (
        TUNING.format(method="lora")
        .replace("  method: lora\n", "")
        .replace("phi-3.5-mini-instruct", "phi-3.5-mini")
    )
    text = workspace(body).replace(
        "  name: ws\n", "  name: ws\n  annotations: {kaito.sh/use-local-weights: 'yes'}\n"
    )
    found = {(f.field, f.code) for f in errors(validate({"clusters/test/w.yaml": text}))}
    # tuning is cut (it misses method), so nothing is said about its preset; the annotation
    # is judged as ever.
    assert found == {
        ("tuning", "schema"),
        ("metadata.annotations.kaito.sh/use-local-weights", "annotation"),
    }


TEMPLATE = """\
resource:
  instanceType: Standard_NC24ads_A100_v4
inference:
  template:
    spec:
      containers:
        - name: server
          image: ghcr.io/acme/server:1.0
          resources: {limits: {nvidia.com/gpu: 1}}
"""


def test_a_custom_pod_template_is_placed_without_sizing(validate: Validate) -> None:
    report = validate({"clusters/test/w.yaml": workspace(TEMPLATE)})
    assert errors(report) == []
    assert [f.severity for f in notes(report, "template")] == [Severity.INFO]
    result = report.clusters[0].workspaces[0]
    assert result.placement is not None
    assert (result.placement.pool.name, result.placement.gpus_per_replica) == ("a100", 1)
    assert result.preset is None


def test_a_template_that_asks_for_more_gpus_than_a_node_has_does_not_fit(
    validate: Validate,
) -> None:
    text = workspace(TEMPLATE.replace("nvidia.com/gpu: 1", "nvidia.com/gpu: 2"))
    (error,) = errors(validate({"clusters/test/w.yaml": text}))
    assert (error.field, error.code) == ("resource.instanceType", "fit")
    assert "asks for 2 GPUs, a node has 1" in error.message


def test_adapters_and_config_beside_a_template_are_errors(validate: Validate) -> None:
    text = workspace(TEMPLATE + "  config: my-config\n")
    (error,) = errors(validate({"clusters/test/w.yaml": text}))
    assert error.field == "inference.config"


def test_a_template_without_containers_is_refused_by_the_schema(validate: Validate) -> None:
    text = workspace(TEMPLATE.partition("      containers:")[0] + "      containers: []\n")
    (error,) = errors(validate({"clusters/test/w.yaml": text}))
    assert (error.field, error.code) == ("inference.template.spec.containers", "schema")
