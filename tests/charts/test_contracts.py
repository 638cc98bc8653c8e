"""The charts' side of docs/contracts.md: values in (2, 4), configs out (3, 6), metrics (7).

Each test reads the contract text itself, so editing the contract without the charts (or
the other way round) fails here. The controller's own desired releases for the example
clusters in clusters/ are rendered through the charts as the other side of sections 2 and 4.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from controller.adapters.bundled import load_bundle
from controller.core.chartpolicy import ChartPolicy
from controller.core.documents import SourceFile
from controller.core.releases import LABEL_WORKSPACE, DesiredRelease, desired_releases
from controller.core.validation import validate_files
from controller.engine.settings import SettingsError, duration, load_settings
from tests.charts.rendering import (
    CHARTS_DIR,
    KUBE_VERSIONS,
    REPO_ROOT,
    chart,
    configmap_file,
    configmap_text,
    render,
    scenario,
    scenarios,
    validate,
)

CONTRACTS = (REPO_ROOT / "docs" / "contracts.md").read_text(encoding="utf-8")


def section(number: int) -> str:
    start = CONTRACTS.index(f"\n## {number}. ")
    end = CONTRACTS.find("\n## ", start + 1)
    return CONTRACTS[start : end if end != -1 else None]


def contract_yaml(number: int) -> dict[str, Any]:
    match = re.search(r"```yaml\n(.*?)```", section(number), re.S)
    assert match, f"section {number} has no yaml block"
    loaded = yaml.safe_load(match.group(1))
    assert isinstance(loaded, dict)
    return loaded


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Dotted paths of every mapping key, without the contract's `...` placeholders."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "...":
                continue
            path = f"{prefix}{key}"
            paths.add(path)
            paths |= key_paths(item, path + ".")
    return paths


def schema_paths(chart_name: str) -> set[str]:
    schema = chart(chart_name).schema
    assert schema is not None

    def walk(node: dict[str, Any], prefix: str) -> set[str]:
        if "$ref" in node:
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
        found: set[str] = set()
        for key, child in node.get("properties", {}).items():
            found.add(prefix + key)
            found |= walk(child, prefix + key + ".")
        items = node.get("items")
        if isinstance(items, dict):
            found |= walk(items, prefix)
        return found

    return walk(schema, "")


# --- sections 2 and 4: the values the controller produces -----------------------------


def test_inference_chart_accepts_the_contract_example_as_is() -> None:
    example = contract_yaml(2)
    chart("workspace-inference").validate_schema(example)
    out = render("workspace-inference", example, release="workspace-phi-3-5-mini")
    for obj in out.objects:
        validate(obj, KUBE_VERSIONS[0])


@pytest.mark.parametrize(
    ("number", "chart_name"), [(2, "workspace-inference"), (4, "workspace-tuning")]
)
def test_every_contract_key_is_a_chart_value(number: int, chart_name: str) -> None:
    known = schema_paths(chart_name)
    trainer_sections = {
        p for p in key_paths(contract_yaml(number)) if p.startswith("trainingConfig.")
    }
    # Inside trainingConfig sections the keys are the trainer's (PEFT, transformers), free-form.
    free_form = {p for p in trainer_sections if p.count(".") > 1}
    missing = key_paths(contract_yaml(number)) - known - free_form
    assert not missing, f"section {number} keys the chart does not know: {sorted(missing)}"


def example_releases() -> list[DesiredRelease]:
    bundle = load_bundle()
    files = [
        SourceFile(str(path.relative_to(REPO_ROOT)), data=path.read_bytes())
        for path in sorted((REPO_ROOT / "clusters").rglob("*.yaml"))
    ]
    report = validate_files(files, schemas=bundle.schemas, catalog=bundle.catalog)
    versions = {
        name: str(chart(name).version)
        for name in ("workspace-inference", "workspace-tuning", "workspace-rag")
    }
    return [r for result in report.clusters for r in desired_releases(result, versions)]


EXAMPLE_RELEASES = example_releases()


def test_the_example_clusters_use_every_workload_chart() -> None:
    assert {r.chart for r in EXAMPLE_RELEASES} == {
        "workspace-inference",
        "workspace-tuning",
        "workspace-rag",
    }


@pytest.mark.parametrize("release", EXAMPLE_RELEASES, ids=lambda r: f"{r.chart}:{r.name}")
def test_charts_render_what_the_controller_produces(release: DesiredRelease) -> None:
    # JSON, as the controller hands values to the Helm SDK: numbers arrive as float64.
    values = json.loads(json.dumps(release.values))
    chart(release.chart).validate_schema(values)
    out = render(release.chart, values, release=release.name, namespace=release.namespace)
    for obj in out.objects:
        for version in KUBE_VERSIONS:
            validate(obj, version)
        # The RAG chart labels its objects with the RAGEngine (its name, as the release's).
        own = "modelsync.dev/ragengine" if release.chart == "workspace-rag" else LABEL_WORKSPACE
        assert obj["metadata"]["labels"][own] == release.workspace
        assert obj["metadata"]["labels"]["modelsync.dev/cluster"] == release.cluster


# --- section 3: the launcher config ---------------------------------------------------


def test_launcher_config_has_exactly_the_contract_fields_and_types() -> None:
    contract = contract_yaml(3)
    out = render("workspace-inference", scenario("workspace-inference", "tensor-parallel").values)
    config = configmap_file(out, "inference.yaml")
    assert set(config) == set(contract)
    for key, example in contract.items():
        assert type(config[key]) is type(example), key
    assert (config["apiVersion"], config["kind"]) == ("modelsync.dev/v1alpha1", "InferenceConfig")
    assert config["model"] == "meta-llama/Llama-3.3-70B-Instruct"
    assert config["revision"] == "6f6073b423013f6a7d4d9f39144961bfbfbc386b"
    assert config["servedModelName"] == "llama-3.3-70b-instruct"
    assert (config["host"], config["port"]) == ("0.0.0.0", 5000)
    assert (config["tensorParallelSize"], config["maxModelLen"], config["maxNumSeqs"]) == (
        4,
        16384,
        64,
    )
    assert config["gpuMemoryUtilization"] == pytest.approx(0.92)
    assert config["dtype"] == "bfloat16"
    assert config["extraArgs"] == ["--enable-prefix-caching", "--enable-chunked-prefill"]
    assert config["overrideConfig"] == ""
    assert config["shutdownTimeout"] == 50  # terminationGracePeriodSeconds 60 - 10


def test_the_launcher_accepts_the_rendered_config(tmp_path: Path) -> None:
    # The real launcher (presets/runtime, needs only PyYAML) validates the file and prints
    # the vLLM command line it would exec.
    values = scenario("workspace-inference", "tensor-parallel").values
    out = render("workspace-inference", values, release="workspace-llama-3-3-70b")
    config_file = tmp_path / "inference.yaml"
    config_file.write_text(configmap_text(out, "inference.yaml"), encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelsync_runtime.launcher",
            "--config",
            str(config_file),
            "--print-args",
        ],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "presets" / "runtime")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    argv = json.loads(result.stdout)["argv"]
    pairs = dict(itertools.pairwise(argv))
    assert pairs["--model"] == "meta-llama/Llama-3.3-70B-Instruct"
    assert pairs["--served-model-name"] == "llama-3.3-70b-instruct"
    assert (pairs["--port"], pairs["--tensor-parallel-size"]) == ("5000", "4")
    assert pairs["--shutdown-timeout"] == "50"
    assert argv[-2:] == ["--enable-prefix-caching", "--enable-chunked-prefill"]


def test_launcher_revision_is_optional() -> None:
    out = render("workspace-inference", scenario("workspace-inference", "adapters").values)
    config = configmap_file(out, "inference.yaml")
    assert "revision" not in config
    assert set(config) == set(contract_yaml(3)) - {"revision"}


def test_served_model_name_defaults_to_the_preset() -> None:
    values = scenario("workspace-inference", "default").values
    values["model"]["servedModelName"] = ""
    config = configmap_file(render("workspace-inference", values), "inference.yaml")
    assert config["servedModelName"] == "phi-3.5-mini-instruct"


# --- section 6: the controller's config -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "ref"),
    [
        ("default", {"branch": "main"}),
        ("ha", {"tag": "v1.4.0"}),
        ("ssh-git", {"commit": "3f2a9c1d4b5e6f708192a3b4c5d6e7f8091a2b3c"}),
    ],
)
def test_controller_config_has_the_contract_fields(name: str, ref: dict[str, str]) -> None:
    contract = contract_yaml(6)
    out = render("modelsync", scenario("modelsync", name).values, release="modelsync")
    config = configmap_file(out, "config.yaml")
    assert set(config) == set(contract)
    assert set(config["leaderElection"]) == set(contract["leaderElection"])
    assert set(config["charts"]) == set(contract["charts"])
    assert set(config["repo"]) == {"url", "path", *ref}
    assert {k: config["repo"][k] for k in ref} == ref
    assert config["listen"] == ":8080"
    assert config["webhookListen"] == ":8081"
    assert config["leaderElection"]["leaseName"] == "modelsync"
    for key in (
        "interval",
        "timeout",
        "target",
        "prune",
        "maxPruneRatio",
        "drift",
        "onUpgradeFailure",
    ):
        assert type(config[key]) is type(contract[key]), key


DURATIONS: list[str | float] = ["30s", "1m30s", "500ms", "2h", "1.5m", "1h2m3s", "90", "1x"]
DURATIONS += ["m", "1m 30s", "-1s", "", 90, 1.5, 0, -1]


def _helm_accepts(values: dict[str, Any]) -> bool:
    try:
        chart("modelsync").validate_schema(values)
    except helm_python.HelmError:
        return False
    return True


@pytest.mark.parametrize("value", DURATIONS)
def test_the_chart_and_the_controller_agree_on_durations(value: str | float) -> None:
    """A duration Helm's check of the chart's values lets through must start the controller
    (else the pod crash-loops on a value `helm install` accepted), and one it refuses must be
    refused: both read the one schema, schemas/controller-config.schema.json."""
    base = scenario("modelsync", "default").values
    try:
        duration(value)
        controller_accepts = True
    except SettingsError:
        controller_accepts = False
    for key in ("interval", "timeout"):
        values = {**base, "config": {**base["config"], key: value}}
        assert _helm_accepts(values) == controller_accepts, (key, value)
    leader = {**base["config"].get("leaderElection", {}), "leaseDuration": value}
    values = {**base, "config": {**base["config"], "leaderElection": leader}}
    assert _helm_accepts(values) == controller_accepts, ("leaseDuration", value)


def test_the_chart_carries_the_controller_config_schema() -> None:
    """charts/modelsync/values.schema.json's `config` is generated from the one schema; a
    hand edit on either side without regenerating fails here."""
    done = subprocess.run(
        [sys.executable, str(CHARTS_DIR / "configschema.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_controller_loads_the_config_the_chart_renders_with_every_scenario(
    tmp_path: Path,
) -> None:
    for item in scenarios("modelsync"):
        out = render("modelsync", item.values, release="modelsync")
        config = tmp_path / f"{item.name}.yaml"
        config.write_text(configmap_text(out, "config.yaml"), encoding="utf-8")
        settings = load_settings(config)
        assert settings.cluster == item.values["config"]["cluster"]
        # The chart's default policy is the controller's (and validate's) strict default.
        assert settings.chart_policy == ChartPolicy()


def test_contract_secret_paths_are_where_the_chart_mounts_them() -> None:
    text = section(6)
    for path in ("/etc/modelsync/git/", "/etc/modelsync/webhook/", "/etc/modelsync/config.yaml"):
        assert path in text
    deployment = render("modelsync", scenario("modelsync", "ha").values).one("Deployment")
    mounts = {
        m["mountPath"]
        for m in deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    }
    assert {"/etc/modelsync/git", "/etc/modelsync/webhook", "/etc/modelsync/config.yaml"} <= mounts


# --- section 7: metrics ---------------------------------------------------------------


def contract_metrics() -> set[str]:
    return set(re.findall(r"`(modelsync_[a-z_]+)`", section(7)))


def used_metrics(text: str) -> set[str]:
    names = set(re.findall(r"\bmodelsync_[a-z_]+", text))
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def test_alerts_and_dashboard_use_only_contract_metrics() -> None:
    metrics = contract_metrics()
    assert {
        "modelsync_reconciles_total",
        "modelsync_last_successful_sync_timestamp_seconds",
        "modelsync_workspaces",
    } <= metrics
    out = render("modelsync", scenario("modelsync", "monitoring").values)
    rules = out.one("PrometheusRule")
    expressions = " ".join(r["expr"] for g in rules["spec"]["groups"] for r in g["rules"])
    dashboard = next(c for c in out.all("ConfigMap") if "modelsync.json" in c["data"])
    queries = " ".join(
        t["expr"]
        for p in json.loads(dashboard["data"]["modelsync.json"])["panels"]
        for t in p["targets"]
    )
    assert used_metrics(expressions) <= metrics
    assert used_metrics(queries) <= metrics
    assert used_metrics(expressions) >= {
        "modelsync_reconciles_total",
        "modelsync_last_successful_sync_timestamp_seconds",
        "modelsync_workspaces",
    }
    # Labels the rules group by are the contract's.
    for label in ("workspace_namespace", "workspace", "kind", "state", "result"):
        assert f"`{label}`" in section(7)
    for alert in ("ModelsyncSyncFailing", "ModelsyncStaleCommit", "ModelsyncWorkspaceNotReady"):
        assert alert in section(7)


# --- shared shapes with schemas/ ------------------------------------------------------


def repo_schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REPO_ROOT / "schemas" / name).read_text(encoding="utf-8"))
    return loaded


def without_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: without_descriptions(v)
            for k, v in node.items()
            if k not in ("description", "x-error", "default")
        }
    if isinstance(node, list):
        return [without_descriptions(v) for v in node]
    return node


@pytest.mark.parametrize("chart_name", ["workspace-inference", "workspace-tuning", "modelsync"])
def test_shared_shapes_match_the_repository_schemas(chart_name: str) -> None:
    workspace = repo_schema("workspace.schema.json")["$defs"]
    cluster = repo_schema("cluster.schema.json")["$defs"]
    schema = chart(chart_name).schema
    assert schema is not None
    defs = schema["definitions"]
    assert without_descriptions(defs["toleration"]) == without_descriptions(workspace["toleration"])
    # DNS names: the same pattern; the "OrEmpty" variants wrap it as ^(...)?$ for "none".
    for name in ("dns1123Label", "dns1123Subdomain"):
        core = workspace[name]["pattern"].removeprefix("^").removesuffix("$")
        variants = [defs[n] for n in (name, f"{name}OrEmpty") if n in defs]
        assert variants, name
        for variant in variants:
            assert variant["pattern"] in (f"^{core}$", f"^({core})?$")
            assert variant["maxLength"] == workspace[name]["maxLength"]
    if "taint" in defs:
        assert without_descriptions(defs["taint"]) == without_descriptions(cluster["taint"])
    if "imageRef" in defs:
        assert defs["imageRef"]["pattern"] == workspace["imageRef"]["pattern"]
    if "volumeSource" in defs:
        # The chart also takes {} for "no volume", since Helm merges values over defaults.
        assert defs["volumeSource"]["maxProperties"] == workspace["volumeSource"]["maxProperties"]


def test_adapter_shape_matches_the_workspace_adapter() -> None:
    workspace = repo_schema("workspace.schema.json")["$defs"]["adapter"]
    schema = chart("workspace-inference").schema
    assert schema is not None
    adapter = schema["definitions"]["adapter"]["properties"]
    source = workspace["properties"]["source"]["properties"]
    assert adapter["strength"]["pattern"] == workspace["properties"]["strength"]["pattern"]
    assert set(adapter) == ({"name", "image", "volumeSource"} & set(source)) | {"strength"}


def test_tuning_input_and_output_match_the_workspace_shapes() -> None:
    workspace = repo_schema("workspace.schema.json")["$defs"]
    schema = chart("workspace-tuning").schema
    assert schema is not None
    chart_input = schema["properties"]["input"]["properties"]
    chart_output = schema["properties"]["output"]["properties"]
    assert (
        set(chart_input)
        == {"urls", "image", "volumeSource"}
        <= set(workspace["tuningInput"]["properties"])
    )
    assert set(chart_output) == set(workspace["tuningOutput"]["properties"])
    assert chart_input["urls"]["items"]["pattern"].startswith(
        workspace["tuningInput"]["properties"]["urls"]["items"]["pattern"]
    )


def test_contract_file_is_where_the_tests_read_it() -> None:
    assert Path(REPO_ROOT / "docs" / "contracts.md").is_file()
    assert "## 7. Metrics the charts rely on" in CONTRACTS
