"""What `modelsync validate` reports for Workspaces: one behaviour per test."""

from __future__ import annotations

from controller.core.findings import Finding, Severity
from controller.core.validation import Report
from tests.core.conftest import CLUSTER, Validate, workspace

PHI = """\
resource:
  instanceType: Standard_NC24ads_A100_v4
inference:
  preset: {name: phi-3.5-mini-instruct}
"""


def errors(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.severity is Severity.ERROR]


def only_error(report: Report) -> Finding:
    found = errors(report)
    assert len(found) == 1, found
    return found[0]


def test_kaitos_example_validates_as_written(validate: Validate) -> None:
    text = """\
    apiVersion: kaito.sh/v1beta1
    kind: Workspace
    metadata: {name: workspace-phi-3-5-mini}
    resource:
      instanceType: Standard_NC24ads_A100_v4
      labelSelector: {matchLabels: {app: phi-3.5}}
    inference:
      preset: {name: phi-3.5-mini-instruct}
    """
    report = validate({"clusters/test/phi.yaml": text})
    assert report.findings == ()
    [result] = report.clusters[0].workspaces
    assert result.placement is not None
    assert result.placement.pool.name == "a100"
    assert result.namespace == "default"


def test_fields_nested_under_spec_are_lifted_and_reported(validate: Validate) -> None:
    text = workspace("spec:\n" + "".join(f"  {line}\n" for line in PHI.splitlines()))
    report = validate({"clusters/test/w.yaml": text})
    assert errors(report) == []
    [note] = report.findings
    assert note.severity is Severity.INFO
    assert note.code == "normalized"
    assert "resource, inference" in note.message
    assert report.clusters[0].workspaces[0].placement is not None


def test_a_field_both_nested_and_top_level_is_an_error(validate: Validate) -> None:
    text = workspace(PHI + "spec:\n  resource: {count: 1}\n")
    finding = only_error(validate({"clusters/test/w.yaml": text}))
    assert finding.field == "spec.resource"


def test_unknown_fields_suggest_the_closest_name(validate: Validate) -> None:
    text = workspace(PHI.replace("inference:", "inferance:"))
    report = validate({"clusters/test/w.yaml": text})
    messages = [f.message for f in errors(report)]
    assert "unknown field 'inferance' (did you mean 'inference'?)" in messages
    nested = workspace(PHI.replace("preset: {name:", "preset: {nmae: x, name:"))
    finding = only_error(validate({"clusters/test/w.yaml": nested}))
    assert finding.field == "inference.preset.nmae"
    assert "did you mean 'name'" in finding.message
    assert (finding.line, finding.column) == (8, 12)


def test_wrong_types_name_the_field_and_the_value(validate: Validate) -> None:
    text = workspace(PHI.replace("resource:\n", 'resource:\n  count: "2"\n'))
    finding = only_error(validate({"clusters/test/w.yaml": text}))
    assert finding.field == "resource.count"
    assert finding.message == "must be an integer, got string '2'"
    assert finding.line == 6


def test_exactly_one_of_inference_and_tuning(validate: Validate) -> None:
    neither = workspace("resource: {}\n")
    assert (
        "exactly one of inference and tuning"
        in only_error(validate({"clusters/test/w.yaml": neither})).message
    )
    both = workspace(
        PHI + "tuning:\n  preset: {name: phi-3.5-mini-instruct}\n  method: lora\n"
        "  input: {urls: ['https://x/d.jsonl']}\n  output: {volumeSource: {emptyDir: {}}}\n"
    )
    assert "not both" in only_error(validate({"clusters/test/w.yaml": both})).message


def test_an_unknown_preset_suggests_the_closest(validate: Validate) -> None:
    text = workspace(PHI.replace("phi-3.5-mini-instruct", "phi-3.5-mini-instrut"))
    finding = only_error(validate({"clusters/test/w.yaml": text}))
    assert finding.field == "inference.preset.name"
    assert "(did you mean 'phi-3.5-mini-instruct'?)" in finding.message


def tuning(preset: str = "phi-3.5-mini-instruct", method: str = "lora", config: str = "") -> str:
    return workspace(
        "resource: {instanceType: Standard_NC24ads_A100_v4}\n"
        f"tuning:\n  preset: {{name: {preset}}}\n  method: {method}\n{config}"
        "  input: {urls: ['https://example.com/data.jsonl']}\n"
        "  output: {volumeSource: {persistentVolumeClaim: {claimName: out}}}\n"
    )


def test_tuning_only_on_presets_that_support_it(validate: Validate) -> None:
    assert errors(validate({"clusters/test/t.yaml": tuning()})) == []
    finding = only_error(validate({"clusters/test/t.yaml": tuning("falcon-7b-instruct")}))
    assert finding.message == "preset 'falcon-7b-instruct' does not support tuning"


def test_lora_and_qlora_config_sanity(validate: Validate) -> None:
    config = (
        "  config:\n"
        "    LoraConfig: {r: 0, lora_dropout: 1.5}\n"
        "    QuantizationConfig: {load_in_4bit: true}\n"
        "    TrainingArgs: {}\n"
    )
    report = validate({"clusters/test/t.yaml": tuning(config=config)})
    by_field = {f.field: f.message for f in errors(report)}
    assert by_field["tuning.config.LoraConfig.r"] == "must be an integer in [1, 256], got 0"
    assert by_field["tuning.config.LoraConfig.lora_dropout"] == "must be in [0, 1), got 1.5"
    assert "QLoRA: set method: qlora" in by_field["tuning.config.QuantizationConfig.load_in_4bit"]
    assert "did you mean 'TrainingArguments'" in by_field["tuning.config.TrainingArgs"]
    qlora = "  config:\n    training_config:\n      QuantizationConfig: {load_in_8bit: true}\n"
    finding = only_error(validate({"clusters/test/t.yaml": tuning(method="qlora", config=qlora)}))
    assert finding.field == "tuning.config.training_config.QuantizationConfig.load_in_8bit"


def test_tuning_input_and_output_need_exactly_one_source(validate: Validate) -> None:
    text = tuning().replace(
        "input: {urls: ['https://example.com/data.jsonl']}",
        "input: {urls: ['https://x/y'], image: 'r/d:1'}",
    )
    finding = only_error(validate({"clusters/test/t.yaml": text}))
    assert finding.message == "set exactly one of urls, image and volumeSource (got urls, image)"


def adapters(count: int, *, name: str = "a", source: str = "image: r/a:1") -> str:
    items = "".join(
        f"    - source: {{name: {name}{'' if name == 'same' else i}, {source}}}\n"
        for i in range(count)
    )
    return workspace(PHI + "  adapters:\n" + items)


def test_adapters_are_limited_unique_and_have_one_source(validate: Validate) -> None:
    assert errors(validate({"clusters/test/w.yaml": adapters(10)})) == []
    assert (
        "must have at most 10 items, got 11"
        in only_error(validate({"clusters/test/w.yaml": adapters(11)})).message
    )
    duplicate = only_error(validate({"clusters/test/w.yaml": adapters(2, name="same")}))
    assert duplicate.message == "adapter name 'same' already used by adapters[0]"
    assert duplicate.field == "inference.adapters[1].source.name"
    both = "image: r/a, volumeSource: {emptyDir: {}}"
    assert (
        "exactly one of image and volumeSource"
        in only_error(validate({"clusters/test/w.yaml": adapters(1, source=both)})).message
    )


def test_names_are_dns_labels_and_unique_per_namespace(validate: Validate) -> None:
    bad = only_error(validate({"clusters/test/w.yaml": workspace(PHI, name="Phi_3")}))
    assert bad.field == "metadata.name"
    assert "DNS-1123 label" in bad.message
    report = validate(
        {
            "clusters/test/a.yaml": workspace(PHI, name="phi"),
            "clusters/test/b.yaml": workspace(PHI, name="phi"),
            "clusters/test/c.yaml": workspace(PHI, name="phi", namespace="team-a"),
        }
    )
    duplicate = only_error(report)
    assert duplicate.file == "clusters/test/b.yaml"
    assert duplicate.message.startswith("default/phi is already defined in clusters/test/a.yaml")


def test_a_trailing_newline_never_passes_a_name_pattern(validate: Validate) -> None:
    # JSON Schema patterns are ECMA-262: "$" is the end of the text, not "before a final
    # newline" as in Python's re. A quoted "phi\n" is a different name from "phi".
    named = only_error(validate({"clusters/test/w.yaml": workspace(PHI, name='"phi\\n"')}))
    assert (named.field, named.code) == ("metadata.name", "schema")
    cluster_file = CLUSTER.replace("{name: test}", '{name: "test\\n"}')
    cluster = only_error(validate({"clusters/test/cluster.yaml": cluster_file}))
    assert (cluster.field, cluster.code) == ("metadata.name", "schema")


def test_the_namespace_must_be_allowed_by_the_cluster(validate: Validate) -> None:
    finding = only_error(validate({"clusters/test/w.yaml": workspace(PHI, namespace="prod")}))
    assert finding.message == (
        "namespace 'prod' is not allowed in cluster test (allowed: default, team-a)"
    )


def test_instance_type_picks_the_pool(validate: Validate) -> None:
    text = workspace(PHI.replace("Standard_NC24ads_A100_v4", "Standard_NC24ads_A100_v5"))
    finding = only_error(validate({"clusters/test/w.yaml": text}))
    assert finding.field == "resource.instanceType"
    assert "did you mean 'Standard_NC24ads_A100_v4'" in finding.message
    assert "a100 (Standard_NC24ads_A100_v4)" in finding.message


def test_label_selector_does_not_have_to_match_pool_labels(validate: Validate) -> None:
    text = workspace(
        PHI.replace("resource:\n", "resource:\n  labelSelector: {matchLabels: {app: x}}\n")
    )
    assert errors(validate({"clusters/test/w.yaml": text})) == []


def test_a_tainted_pool_needs_tolerations(validate: Validate) -> None:
    on_h100 = PHI.replace("Standard_NC24ads_A100_v4", "Standard_ND96isr_H100_v5")
    finding = only_error(validate({"clusters/test/w.yaml": workspace(on_h100)}))
    assert "taints sku=h100:NoSchedule are not tolerated" in finding.message
    tolerated = on_h100 + "tolerations: [{key: sku, operator: Exists, effect: NoSchedule}]\n"
    assert errors(validate({"clusters/test/w.yaml": workspace(tolerated)})) == []


def test_without_instance_type_the_cheapest_fitting_untainted_pool_wins(validate: Validate) -> None:
    report = validate(
        {
            "clusters/test/w.yaml": workspace(
                "resource: {}\ninference:\n  preset: {name: phi-3.5-mini-instruct}\n"
            )
        }
    )
    placement = report.clusters[0].workspaces[0].placement
    assert placement is not None
    assert placement.pool.name == "a10"


def test_a_model_too_big_for_the_pool_names_the_numbers(validate: Validate) -> None:
    text = workspace(
        "resource: {instanceType: Standard_NC24ads_A100_v4}\n"
        "inference:\n  preset:\n    name: llama-3.3-70b-instruct\n"
        "    presetOptions: {modelAccessSecret: hf}\n"
    )
    finding = only_error(validate({"clusters/test/w.yaml": text}))
    assert finding.code == "fit"
    assert "does not fit pool a100 of cluster test" in finding.message
    assert "GiB" in finding.message


def test_an_explicit_max_model_len_beyond_the_context_is_an_error(validate: Validate) -> None:
    text = workspace(
        PHI.replace("inference:", "inference:\n  config: {vllm: {max-model-len: 4000000}}")
    )
    error = only_error(validate({"clusters/test/w.yaml": text}))
    assert (error.code, error.field) == ("config", "inference.config.vllm.max-model-len")
    assert "beyond phi-3.5-mini-instruct's context of 131072 tokens" in error.message


def test_capacity_names_the_pool_and_the_totals(validate: Validate) -> None:
    files = {f"clusters/test/w{i}.yaml": workspace(PHI, name=f"w{i}") for i in range(3)}
    finding = only_error(validate(files))
    assert finding.code == "capacity"
    assert finding.message.startswith(
        "node pool a100 of cluster test is over capacity: its Workspaces need 3 GPUs"
    )
    assert "but it has 2 (max 2 nodes x 1)" in finding.message


def test_gated_models_need_an_access_secret(validate: Validate) -> None:
    text = workspace(
        "resource: {instanceType: Standard_NC24ads_A100_v4}\n"
        "inference:\n  preset: {name: llama-3.1-8b-instruct}\n"
    )
    finding = only_error(validate({"clusters/test/w.yaml": text}))
    assert finding.field == "inference.preset.presetOptions.modelAccessSecret"


def test_unknown_modelsync_annotations_are_errors(validate: Validate) -> None:
    text = workspace(PHI).replace(
        "  name: ws\n", "  name: ws\n  annotations: {modelsync.dev/suspended: 'true', team: x}\n"
    )
    finding = only_error(validate({"clusters/test/w.yaml": text}))
    assert "did you mean 'modelsync.dev/suspend'" in finding.message


def test_other_kinds_are_ignored_with_a_note(validate: Validate) -> None:
    report = validate(
        {
            "clusters/test/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            "clusters/test/set.yaml": "apiVersion: kaito.sh/v1alpha1\nkind: InferenceSet\n"
            "metadata: {name: r}\n",
        }
    )
    assert errors(report) == []
    assert {f.severity for f in report.findings} == {Severity.INFO, Severity.WARNING}


BAD_FILES = {
    "clusters/test/a-malformed.yaml": "a: [1, 2\n",
    "clusters/test/b-list.yaml": "- 1\n- 2\n",
    "clusters/test/c-list-after-a-doc.yaml": workspace(PHI, name="two") + "---\n- 1\n",
    "clusters/test/d-duplicate-key.yaml": workspace(PHI, name="dup") + "resource: {}\n",
    "clusters/test/e-wrong-type.yaml": workspace(PHI, name="wt").replace("count", "x")
    + "nodeSelector: [a]\n",
}


def test_each_bad_file_gives_one_located_finding_and_the_rest_still_validate(
    validate: Validate,
) -> None:
    files = dict(BAD_FILES)
    files["clusters/test/z-good.yaml"] = workspace(PHI, name="good")
    report = validate(files)
    bad = errors(report)
    assert sorted({f.file for f in bad}) == sorted(BAD_FILES)
    assert all(f.line >= 1 for f in bad)
    assert len(bad) == len(BAD_FILES)
    good = [w for w in report.clusters[0].workspaces if w.valid]
    assert [w.path for w in good] == ["clusters/test/z-good.yaml"]


def test_a_broken_cluster_file_still_checks_its_workspaces(validate: Validate) -> None:
    report = validate(
        {
            "clusters/test/cluster.yaml": "apiVersion: modelsync.dev/v1alpha1\nkind: Cluster\n"
            "metadata: {name: test}\nspec: {nodePools: []}\n",
            "clusters/test/w.yaml": workspace(PHI.replace("phi-3.5-mini-instruct", "nope")),
        }
    )
    assert {f.file for f in errors(report)} == {
        "clusters/test/cluster.yaml",
        "clusters/test/w.yaml",
    }


def test_clusters_do_not_nest(validate: Validate) -> None:
    report = validate(
        {
            "clusters/test/team/cluster.yaml": "",
            "clusters/test/team/deep/cluster.yaml": CLUSTER.replace("test", "deep"),
            "clusters/test/team/w.yaml": workspace(PHI, name="w"),
            "clusters/test/team/deep/v.yaml": workspace(PHI, name="v"),
        },
        cluster="test",
    )
    [test] = report.clusters
    assert test.cluster is not None
    assert sorted(w.workspace.name for w in test.workspaces if w.workspace) == ["v", "w"]
    assert sorted(f.file for f in errors(report)) == [
        "clusters/test/team/cluster.yaml",
        "clusters/test/team/deep/cluster.yaml",
    ]
    assert "inside cluster folder clusters/test/" in errors(report)[0].message
    assert validate({"clusters/test/team/cluster.yaml": ""}, cluster="team").clusters == ()


def test_cluster_pools_must_use_known_gpus(validate: Validate) -> None:
    cluster = (
        "apiVersion: modelsync.dev/v1alpha1\nkind: Cluster\nmetadata: {name: test}\n"
        "spec:\n  nodePools:\n    - {name: p, gpu: A100-80G, gpusPerNode: 1, nodes: 1}\n"
    )
    finding = only_error(validate({"clusters/test/cluster.yaml": cluster}))
    assert finding.field == "spec.nodePools[0].gpu"
    assert "did you mean 'A100-80GB'" in finding.message


def test_one_cluster_can_be_selected(validate: Validate) -> None:
    report = validate(
        {"clusters/other/cluster.yaml": "not: [valid", "clusters/test/w.yaml": workspace(PHI)},
        cluster="test",
    )
    assert [c.name for c in report.clusters] == ["test"]
    assert errors(report) == []
    missing = validate({}, cluster="tset")
    assert "no cluster named 'tset'" in only_error(missing).message
    assert "did you mean 'test'" in only_error(missing).message


def test_workspaces_outside_any_cluster_are_checked_alone(validate: Validate) -> None:
    report = validate({"w.yaml": workspace(PHI)}, with_cluster=False)
    assert report.findings == ()
    assert report.orphans[0].placement is None
    assert report.orphans[0].valid


def test_independent_problems_are_reported_together(validate: Validate) -> None:
    body = PHI.replace("phi-3.5-mini-instruct", "phi-3.5-mini-instrut") + (
        "  adapters:\n    - source: {name: a, image: r/a:1, volumeSource: {emptyDir: {}}}\n"
    )
    report = validate({"clusters/test/w.yaml": workspace(body, namespace="team-b")})
    assert {f.code for f in errors(report)} == {"preset", "adapters", "namespace"}
    namespace = next(f for f in errors(report) if f.code == "namespace")
    assert "did you mean 'team-a'" in namespace.message
