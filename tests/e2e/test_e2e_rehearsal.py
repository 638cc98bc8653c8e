"""The e2e's scenario rehearsed against the Kubernetes API emulator, with the real controller.

Everything `make e2e` does after its cluster exists, minus Docker: the clusters repo seeded
by the git-server pod's script and served by its git daemon command, the controller wired
from the config charts/modelsync renders for the e2e (only the repository URL and the
kubeconfig differ), one pass that installs the Workspace's release, the removal commit the
pod's script makes, and the pass that prunes it. The driver's own checks (the release
record's labels, the Deployment's placement) are asserted on what the real Helm SDK wrote.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from controller.engine.settings import build_syncer, load_settings
from controller.engine.sync import PassResult
from tests.charts.rendering import render
from tests.e2e import layout
from tests.e2e.workload import RELEASE_LABELS
from tests.support.kubeapi import KubeApi


def actions(result: PassResult) -> dict[str, str]:
    return {r.step.name: f"{r.step.action}:{'ok' if r.ok else 'failed'}" for r in result.results}


def records(kube_api: KubeApi) -> list[dict[str, Any]]:
    """What workload.release_records lists: Helm's storage Secrets of the release."""
    secrets = kube_api.objects("v1/secrets", namespace=layout.WORKLOAD_NAMESPACE)
    return [
        s
        for s in secrets
        if s["metadata"].get("labels", {}).get("owner") == "helm"
        and s["metadata"]["labels"].get("name") == layout.RELEASE
    ]


def test_the_scenario_installs_then_prunes_the_workspace(
    served: str, published: Path, kube_api: KubeApi, tmp_path: Path
) -> None:
    kube_api.add_node(
        f"{layout.DEFAULT_KIND_CLUSTER}-worker2",
        labels={layout.POOL_LABEL: layout.GPU_POOL},
        gpus=layout.GPUS_PER_NODE,
        taints=[layout.GPU_TAINT],
    )
    kube_api.auto_ready = True
    rendered = render(
        "modelsync",
        layout.controller_values(),
        release=layout.CONTROLLER_RELEASE,
        namespace=layout.CONTROLLER_NAMESPACE,
    )
    config = tmp_path / "config.yaml"
    config.write_text(rendered.one("ConfigMap")["data"]["config.yaml"], encoding="utf-8")
    settings = load_settings(
        config, repo=served, kubeconfig=kube_api.kubeconfig_path, state_dir=tmp_path / "state"
    )
    syncer = build_syncer(settings)

    installed = syncer.run_pass()

    assert actions(installed) == {layout.RELEASE: "install:ok"}
    (record,) = records(kube_api)
    labels = record["metadata"]["labels"]
    assert labels["status"] == "deployed"
    assert RELEASE_LABELS.items() <= labels.items()
    deployment = kube_api.get("deployments", layout.RELEASE, namespace=layout.WORKLOAD_NAMESPACE)
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {layout.POOL_LABEL: layout.GPU_POOL}
    assert pod["containers"][0]["image"] == layout.INFERENCE_IMAGE
    requests = pod["containers"][0]["resources"]["requests"]
    assert str(requests[layout.GPU_RESOURCE]) == str(layout.GPUS_PER_NODE)

    script = layout.remove_workspace_script(root=str(published))
    subprocess.run(["sh", "-c", script], check=True, capture_output=True)
    pruned = syncer.run_pass()

    assert actions(pruned) == {layout.RELEASE: "uninstall:ok"}
    assert records(kube_api) == []
    for resource in ("deployments", "services", "configmaps"):
        assert kube_api.get(resource, layout.RELEASE, namespace=layout.WORKLOAD_NAMESPACE) is None
