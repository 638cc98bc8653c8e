"""What a cluster's broken files may still define, so that their releases are not pruned."""

from __future__ import annotations

from typing import Any

import pytest

from controller.adapters.bundled import Bundle
from controller.core.claims import Claim, claim_of
from controller.core.documents import SourceFile
from controller.core.validation import validate_files
from tests.core.conftest import CLUSTER, Validate, workspace

PHI = "resource: {}\ninference:\n  preset: {name: phi-3.5-mini-instruct}\n"

CLAIM_CASES: list[tuple[str, dict[str, Any] | None, Claim]] = [
    ("did not parse", None, Claim()),
    ("no metadata", {"kind": "Workspace"}, Claim()),
    ("metadata is a list", {"metadata": ["phi"]}, Claim()),
    ("no name", {"metadata": {"namespace": "team-a"}}, Claim()),
    ("a name Kubernetes refuses", {"metadata": {"name": "Phi"}}, Claim()),
    # Python's `$` also matches before a final newline: the name must match whole.
    ("a name with a trailing newline", {"metadata": {"name": "phi\n"}}, Claim()),
    ("a namespace that is no string", {"metadata": {"name": "phi", "namespace": 3}}, Claim()),
    ("name only", {"metadata": {"name": "phi"}}, Claim("ml", "phi")),
    ("empty namespace", {"metadata": {"name": "phi", "namespace": ""}}, Claim("ml", "phi")),
    ("name and namespace", {"metadata": {"name": "phi", "namespace": "a"}}, Claim("a", "phi")),
]


@pytest.mark.parametrize(
    ("body", "claim"), [c[1:] for c in CLAIM_CASES], ids=[c[0] for c in CLAIM_CASES]
)
def test_what_a_broken_document_may_be(body: dict[str, Any] | None, claim: Claim) -> None:
    assert claim_of(body, "ml") == claim


FILE_CASES = [
    # (id, file text, what it holds: a namespace/name, "everything" or nothing)
    ("unparseable", "kind: Workspace\nmetadata: [phi\n", "everything"),
    ("no kind", "metadata: {name: phi}\n", "default/phi"),
    (
        "a typo in the kind",
        "apiVersion: kaito.sh/v1beta1\nkind: Workspce\nmetadata: {name: phi}\n",
        "default/phi",
    ),
    ("schema error", workspace(PHI.replace("resource: {}", "resource: {count: x}")), "default/ws"),
    ("bad namespace", workspace(PHI, namespace="nope"), "nope/ws"),
    ("another API's object", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: phi}\n", ""),
    ("valid", workspace(PHI), ""),
]


@pytest.mark.parametrize(
    ("text", "held"), [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES]
)
def test_what_each_file_of_a_cluster_holds(validate: Validate, text: str, held: str) -> None:
    [cluster] = validate({"clusters/test/w.yaml": text}).clusters
    claims = cluster.claims()
    if held == "everything":
        assert claims.everything
        assert "clusters/test/w.yaml cannot be read" in claims.everything[0]
    else:
        assert claims.everything == ()
        assert [f"{ns}/{name}" for ns, name in claims.workspaces] == ([held] if held else [])


def test_a_nested_cluster_file_holds_everything(validate: Validate) -> None:
    [cluster] = validate({"clusters/test/team/cluster.yaml": ""}).clusters
    [why] = cluster.claims().everything
    assert why.startswith("clusters/test/team/cluster.yaml:1: a cluster file inside")
    assert why.endswith("no release is pruned until it is fixed")


def test_an_entry_that_could_not_be_read_holds_everything(bundle: Bundle) -> None:
    files = [
        SourceFile("clusters/test/cluster.yaml", data=CLUSTER.encode()),
        SourceFile("clusters/test/team", error="submodule (gitlink) is not read"),
        SourceFile("clusters/test/NOTES.md", data=b"notes"),
    ]
    report = validate_files(files, schemas=bundle.schemas, catalog=bundle.catalog)
    [cluster] = report.clusters
    [why] = cluster.claims().everything
    assert why.startswith("clusters/test/team:1: not read (submodule (gitlink) is not read)")
    assert [f.file for f in report.findings if f.is_error] == ["clusters/test/team"]
