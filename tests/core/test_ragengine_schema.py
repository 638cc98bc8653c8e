"""schemas/ragengine.schema.json: KAITO's RAGEngine format, as KAITO's examples write it.

Pure: documents checked against the schema with jsonschema, no controller involved (the
RAGEngine is not wired into validation or planning yet).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "ragengine.schema.json").read_text()
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

WITH_PVC: dict[str, Any] = {
    "apiVersion": "kaito.sh/v1alpha1",
    "kind": "RAGEngine",
    "metadata": {"name": "ragengine-with-pvc"},
    "spec": {
        "compute": {
            "instanceType": "Standard_NC6s_v3",
            "labelSelector": {"matchLabels": {"apps": "ragengine-example"}},
        },
        "storage": {"persistentVolumeClaim": "pvc-ragengine-vector-db", "mountPath": "/mnt/db"},
        "embedding": {"local": {"modelID": "BAAI/bge-small-en-v1.5"}},
        "inferenceService": {
            "url": "http://workspace-phi-3-mini/v1/chat/completions",
            "contextWindowSize": 4000,
        },
    },
}
RETRIEVE_ONLY: dict[str, Any] = {
    "apiVersion": "kaito.sh/v1beta1",
    "kind": "RAGEngine",
    "metadata": {"name": "ragengine-retrieve"},
    "spec": {"embedding": {"local": {"modelID": "sentence-transformers/all-MiniLM-L6-v2"}}},
}


def errors(document: dict[str, Any]) -> list[str]:
    return sorted(
        f"{error.json_path}: {error.validator}" for error in VALIDATOR.iter_errors(document)
    )


def edited(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of base with the dotted path set (or removed when value is None)."""
    document = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = document
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return document


@pytest.mark.parametrize("document", [WITH_PVC, RETRIEVE_ONLY], ids=["with-pvc", "retrieve"])
def test_kaitos_examples_are_valid(document: dict[str, Any]) -> None:
    assert errors(document) == []


def test_the_v1beta1_storage_form_is_valid() -> None:
    storage = {"persistentVolume": {"persistentVolumeClaim": "rag-index"}}
    assert errors(edited(RETRIEVE_ONLY, "spec.storage", storage)) == []


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("kind", "Workspace", "$.kind: const"),
        ("spec.embedding", None, "$.spec: required"),
        ("spec.embedding", {}, "$.spec.embedding: oneOf"),
        (
            "spec.embedding",
            {"local": {"modelID": "a/b"}, "remote": {"url": "http://e"}},
            "$.spec.embedding: oneOf",
        ),
        ("spec.embedding.local", {"modelID": "a/b", "image": "r/m:1"}, "oneOf"),
        ("spec.inferenceService.contextWindowSize", None, "required"),
        ("spec.inferenceService.url", "workspace-phi:80", "$.spec.inferenceService.url: pattern"),
        ("spec.storage.mountPath", "relative/path", "$.spec.storage.mountPath: pattern"),
        ("spec.compute.count", 0, "$.spec.compute.count: minimum"),
        ("spec.replicas", 2, "$.spec: additionalProperties"),
        ("metadata.name", "Bad_Name", "$.metadata.name: pattern"),
    ],
)
def test_mistakes_are_found_where_they_are(path: str, value: Any, expected: str) -> None:
    found = errors(edited(WITH_PVC, path, value))
    assert any(expected in error for error in found), found
