"""KAITO parity, measured on KAITO's own files (issue 12): its examples validate, and every
case its webhook tests reject gets a located error.

The corpus is committed (tests/kaito/corpus.py says how it was taken), so this runs offline.
The examples that modelsync still refuses are listed in ``DIFFERENT`` with the reason; the
test fails when one of them starts to pass (update the list and docs/kaito.md) or when any
other example stops passing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controller.adapters.bundled import Bundle
from controller.core.documents import Document, SourceFile, parse_documents
from controller.core.releases import desired_releases
from tests.charts.rendering import render
from tests.kaito.corpus import EXAMPLES, REJECTED, files, validate_one, validate_text

#: Chart versions for the rendered releases (the charts in this checkout).
VERSIONS = {"workspace-inference": "0.1.0", "workspace-tuning": "0.1.0"}
PLACEHOLDER = "a placeholder image reference (KAITO's webhook cannot parse it either)"
HF_ID = "a Hugging Face id without a preset: `modelsync presets add` pins it first"
STRENGTH = "adapter strength under vLLM (KAITO's vLLM runtime refuses it too)"
#: Examples modelsync refuses, and why (docs/kaito.md lists the same).
DIFFERENT = {
    "examples__fine-tuning__kaito_workspace_tuning_falcon_7b_mental.yaml": PLACEHOLDER,
    "examples__fine-tuning__kaito_workspace_tuning_falcon_7b_oai.yaml": PLACEHOLDER,
    "examples__fine-tuning__kaito_workspace_tuning_phi_3.yaml": PLACEHOLDER,
    "examples__inference__kaito_workspace_phi_3_with_adapters.yaml": PLACEHOLDER,
    "website__docs__lora-adapters.md.block0.yaml": PLACEHOLDER,
    "website__docs__lora-adapters.md.block1.yaml": PLACEHOLDER,
    "website__docs__lora-adapters.md.block2.yaml": PLACEHOLDER,
    "website__docs__lora-adapters.md.block4.yaml": PLACEHOLDER,
    "website__docs__presets.md.block0.yaml": HF_ID,
    "website__docs__tuning.md.block0.yaml": PLACEHOLDER,
    "website__docs__workspace.md.block0.yaml": HF_ID,
}
#: Cases KAITO rejects that modelsync accepts on purpose, and why (docs/kaito.md lists them).
ACCEPTED_ON_PURPOSE: dict[str, str] = {}
_EXPECT = re.compile(r"^# Expect: ?(.*)$", re.M)
_CASE = re.compile(r"^# KAITO rejects: (.*)$", re.M)


#: Examples whose model needs more GPUs than one node has: one multi-node group each.
MULTI_NODE = {
    "examples__inference__kaito_workspace_deepseek_r1.yaml",
    "examples__inference__kaito_workspace_deepseek_v3.yaml",
    "examples__inference__kaito_workspace_mistral_large_3_675b_instruct.yaml",
}


def test_the_corpus_is_all_there() -> None:
    assert len(files(EXAMPLES)) == 45
    assert set(DIFFERENT) <= {p.name for p in files(EXAMPLES)}
    # 34 of 45 validate (docs/kaito.md); 31 did before multi-node serving.
    assert len(files(EXAMPLES)) - len(DIFFERENT) == 34
    assert not MULTI_NODE & set(DIFFERENT)


@pytest.mark.parametrize("name", sorted(MULTI_NODE))
def test_kaitos_multi_node_examples_render_one_leader_worker_set(name: str, bundle: Bundle) -> None:
    report = validate_one(EXAMPLES / name, bundle)
    (cluster,) = report.clusters
    (release,) = desired_releases(cluster, VERSIONS)
    out = render(release.chart, dict(release.values), release=release.name)
    (group,) = [o for o in out.objects if o["kind"] == "LeaderWorkerSet"]
    assert group["spec"]["leaderWorkerTemplate"]["size"] == 6  # resource.count: 6 nodes
    assert not [o for o in out.objects if o["kind"] == "Deployment"]


@pytest.mark.parametrize("path", files(EXAMPLES), ids=lambda p: p.name)
def test_kaitos_examples_validate_on_a_cluster_with_their_instance_types(
    path: Path, bundle: Bundle
) -> None:
    report = validate_one(path, bundle)
    errors = [f for f in report.findings if f.is_error]
    if path.name in DIFFERENT:
        assert errors, f"{path.name} now validates: take it off DIFFERENT and docs/kaito.md"
        return
    assert errors == []
    (cluster,) = report.clusters
    workspaces = [w for w in cluster.workspaces if w.workspace is not None]
    assert workspaces
    assert all(w.valid and w.placement is not None for w in workspaces)
    for release in desired_releases(cluster, VERSIONS):
        render(release.chart, dict(release.values), release=release.name)


def _cases() -> list[tuple[str, str, Document]]:
    text = REJECTED.read_text()
    parsed = parse_documents(SourceFile("rejected.yaml", data=text.encode()))
    assert isinstance(parsed, list)
    cases = []
    for doc, chunk in zip(parsed, text.split("\n---\n"), strict=True):
        case, expect = _CASE.search(chunk), _EXPECT.search(chunk)
        assert case is not None
        assert expect is not None
        cases.append((case.group(1), expect.group(1).strip(), doc))
    return cases


def test_every_case_kaitos_webhook_rejects_gets_a_located_error(bundle: Bundle) -> None:
    cases = _cases()
    assert len(cases) == 64
    report = validate_text("rejected.yaml", REJECTED.read_text(), bundle)
    results = [w for c in report.clusters for w in c.workspaces]
    assert len(results) == len(cases)
    missed, accepted = [], []
    for (case, expect, doc), result in zip(cases, results, strict=True):
        start = doc.locate(()).line
        errors = [f for f in result.findings if f.is_error]
        located = [f for f in errors if f.field == expect and f.line >= start]
        if any(case.endswith(known) for known in ACCEPTED_ON_PURPOSE):
            if errors:
                missed.append(f"{case} is now refused: take it off ACCEPTED_ON_PURPOSE")
            accepted.append(case)
        elif not located:
            missed.append(f"{case}: wanted an error at {expect!r}, got {errors}")
    assert missed == []
    assert len(accepted) == len(ACCEPTED_ON_PURPOSE)
