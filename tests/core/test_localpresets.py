"""Repo-local presets merged into the bundled catalog, and Workspaces that name a Hub id."""

from __future__ import annotations

from pathlib import Path

import yaml

from controller.adapters.bundled import Bundle
from controller.core.documents import SourceFile
from controller.core.findings import Severity
from controller.core.localpresets import presets_dir_for, with_local_presets
from controller.core.validation import validate_files
from tests.core.conftest import CLUSTER, Validate, workspace

ROOT = Path(__file__).resolve().parents[2]
LOCAL = yaml.safe_load((ROOT / "presets/models/phi-4.yaml").read_text())
LOCAL["metadata"] = {"name": "acme-phi", "family": "phi3", "aliases": []}
LOCAL["model"]["huggingFaceId"] = "acme/Phi-Tuned"


def source(path: str, body: object) -> SourceFile:
    return SourceFile(path, data=yaml.safe_dump(body).encode())


def test_a_local_preset_is_found_by_name_and_by_its_hugging_face_id(bundle: Bundle) -> None:
    local = with_local_presets(bundle.catalog, [source("presets/acme.yaml", LOCAL)], bundle.schemas)
    assert local.findings == ()
    preset = local.catalog.preset("acme/phi-tuned")
    assert preset is not None
    assert preset.name == "acme-phi"
    assert local.catalog.preset("acme-phi") is preset
    assert len(local.catalog.presets) == len(bundle.catalog.presets) + 1


def test_a_clash_with_a_bundled_preset_is_a_located_error_and_changes_nothing(
    bundle: Bundle,
) -> None:
    clash = {**LOCAL, "metadata": {**LOCAL["metadata"], "aliases": ["microsoft/phi-4"]}}
    local = with_local_presets(bundle.catalog, [source("presets/c.yaml", clash)], bundle.schemas)
    (finding,) = local.findings
    assert (finding.file, finding.field, finding.severity) == (
        "presets/c.yaml",
        "metadata.name",
        Severity.ERROR,
    )
    assert "bundled preset 'phi-4'" in finding.message
    assert local.catalog.preset("acme-phi") is None


def test_two_local_files_cannot_claim_the_same_name(bundle: Bundle) -> None:
    files = [source("presets/a.yaml", LOCAL), source("presets/b.yaml", LOCAL)]
    local = with_local_presets(bundle.catalog, files, bundle.schemas)
    assert [f.file for f in local.findings] == ["presets/b.yaml"]
    assert "presets/a.yaml" in local.findings[0].message


def test_schema_errors_and_other_kinds_are_reported_per_file(bundle: Bundle) -> None:
    broken = {**LOCAL, "model": {**LOCAL["model"], "revision": "main"}}
    files = [
        source("presets/broken.yaml", broken),
        source("presets/other.yaml", {"kind": "Workspace"}),
        SourceFile("presets/bad.yaml", data=b"a: [\n"),
    ]
    local = with_local_presets(bundle.catalog, files, bundle.schemas)
    assert {(f.file, f.severity) for f in local.findings} == {
        ("presets/broken.yaml", Severity.ERROR),
        ("presets/other.yaml", Severity.WARNING),
        ("presets/bad.yaml", Severity.ERROR),
    }
    assert local.catalog is bundle.catalog


def test_modelsyncs_own_bundled_folder_is_not_taken_for_local_presets(bundle: Bundle) -> None:
    files = [
        SourceFile(path.relative_to(ROOT).as_posix(), data=path.read_bytes())
        for path in sorted((ROOT / "presets").rglob("*.yaml"))
    ]
    local = with_local_presets(bundle.catalog, files, bundle.schemas)
    assert (local.catalog, local.findings) == (bundle.catalog, ())


def test_the_digest_follows_the_files(bundle: Bundle) -> None:
    one = with_local_presets(bundle.catalog, [source("presets/a.yaml", LOCAL)], bundle.schemas)
    same = with_local_presets(bundle.catalog, [source("presets/a.yaml", LOCAL)], bundle.schemas)
    none = with_local_presets(bundle.catalog, [], bundle.schemas)
    assert one.digest == same.digest != none.digest


def test_the_presets_folder_sits_beside_the_clusters_folder() -> None:
    assert presets_dir_for("clusters") == "presets"
    assert presets_dir_for("/gitops/clusters/") == "gitops/presets"


def test_a_workspace_naming_an_unknown_hub_id_is_told_which_command_to_run(
    validate: Validate,
) -> None:
    report = validate(
        {
            "clusters/test/ws.yaml": workspace(
                "resource: {instanceType: Standard_NC24ads_A100_v4}\n"
                "inference: {preset: {name: acme/Phi-Tuned}}\n"
            )
        }
    )
    (finding,) = [f for f in report.findings if f.code == "preset"]
    assert (finding.file, finding.line, finding.field) == (
        "clusters/test/ws.yaml",
        6,
        "inference.preset.name",
    )
    assert "run `modelsync presets add acme/Phi-Tuned`" in finding.message


def test_the_same_workspace_sizes_once_the_local_preset_exists(bundle: Bundle) -> None:
    local = with_local_presets(bundle.catalog, [source("presets/acme.yaml", LOCAL)], bundle.schemas)
    files = [
        SourceFile("clusters/test/cluster.yaml", data=CLUSTER.encode()),
        SourceFile(
            "clusters/test/ws.yaml",
            data=workspace(
                "resource: {instanceType: Standard_NC24ads_A100_v4}\n"
                "inference: {preset: {name: acme/Phi-Tuned}}\n"
            ).encode(),
        ),
    ]
    report = validate_files(files, schemas=bundle.schemas, catalog=local.catalog)
    (result,) = [w for c in report.clusters for w in c.workspaces]
    assert result.valid
    assert result.preset is not None
    assert result.preset.name == "acme-phi"
