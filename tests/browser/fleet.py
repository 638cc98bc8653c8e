"""The clusters repo the status page's browser test serves: fixed, so the page is too.

Two pools, one of them filling up; a Workspace that is Ready, one on the big pool, one
suspended and one that fails validation (a misspelt preset), so each kind of row shows.
"""

from __future__ import annotations

#: The commit's author and committer date: a fixed commit id on the page.
TIMESTAMP = "2026-12-01T12:00:00Z"

FLEET = {
    "clusters/edge/cluster.yaml": """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {name: edge}
spec:
  namespaces: [ml, research]
  defaults: {namespace: ml, modelAccessSecret: hf-token}
  nodePools:
    - {name: l4, gpu: L4, gpusPerNode: 1, nodes: 4}
    - {name: h100, gpu: H100-80GB, gpusPerNode: 8, nodes: 1}
""",
    "clusters/edge/phi.yaml": """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: phi
  annotations: {modelsync.dev/pool: l4, modelsync.dev/max-model-len: '8192'}
resource: {count: 3}
inference:
  preset: {name: phi-3.5-mini-instruct}
""",
    "clusters/edge/llama.yaml": """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: llama-70b
  namespace: research
  annotations: {modelsync.dev/pool: h100}
resource: {}
inference:
  preset: {name: llama-3.3-70b-instruct}
""",
    "clusters/edge/mistral.yaml": """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: mistral
  annotations: {modelsync.dev/suspend: 'true', modelsync.dev/pool: h100}
resource: {}
inference:
  preset: {name: mistral-7b-instruct}
""",
    "clusters/edge/qwen.yaml": """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: qwen
  annotations: {modelsync.dev/pool: l4}
resource: {}
inference:
  preset: {name: qwen2.5-coder-7b-instrct}
""",
}
