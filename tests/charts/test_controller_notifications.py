"""charts/modelsync's logFormat and notifications: the chart and the controller agree.

The chart's schema for ``config.notifications`` is schemas/notifications.schema.json's,
and the config it renders starts a controller that reports to the receivers it names,
with the secrets mounted where the controller reads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.core.notifications import NotifySecrets
from controller.engine.notifications import build_notifier
from controller.engine.settings import SettingsError, load_settings
from tests.charts.rendering import configmap_file, container, mounts_of, pod_spec, render, scenario

REPO_ROOT = Path(__file__).resolve().parents[2]


def without_error_texts(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: without_error_texts(v) for k, v in node.items() if k != "x-error"}
    if isinstance(node, list):
        return [without_error_texts(v) for v in node]
    return node


def test_the_chart_checks_notifications_with_the_controllers_schema() -> None:
    controller = json.loads((REPO_ROOT / "schemas/notifications.schema.json").read_text())
    chart = json.loads((REPO_ROOT / "charts/modelsync/values.schema.json").read_text())
    ours = chart["properties"]["config"]["properties"]["notifications"]
    assert ours == without_error_texts(controller["$defs"]["notifications"])


def test_the_rendered_config_starts_a_controller_that_notifies(tmp_path: Path) -> None:
    out = render("modelsync", scenario("modelsync", "notifications").values, release="modelsync")
    config = configmap_file(out, "config.yaml")
    assert config["logFormat"] == "json"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    settings = load_settings(path)
    assert settings.log_format == "json"
    secrets = NotifySecrets(
        github_token="ghp_x", webhook_url="https://hooks.slack.com/services/T/B/X"
    )
    notifier = build_notifier(settings, secrets)
    assert notifier is not None
    assert notifier.receivers.github_repository == "acme/clusters"
    assert notifier.receivers.webhook_url == secrets.webhook_url
    assert notifier.receivers.timeout == 5.0
    deployment = pod_spec(out.one("Deployment"))
    assert "/etc/modelsync/notifications" in mounts_of(container(deployment, "controller"))
    volume = next(v for v in deployment["volumes"] if v["name"] == "notification-secrets")
    assert volume["secret"]["secretName"] == "modelsync-notifications"


def test_without_notifications_no_notifier_and_no_secret_mount() -> None:
    out = render("modelsync", scenario("modelsync", "default").values, release="modelsync")
    assert configmap_file(out, "config.yaml")["notifications"] == {}
    mounts = mounts_of(container(pod_spec(out.one("Deployment")), "controller"))
    assert "/etc/modelsync/notifications" not in mounts


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("notifications:\n  webhook: {url: 'ftp://x'}\n", "config.yaml:2:"),
        ("cluster: a\nnotifications:\n  github: {repo: a/b}\n", "config.yaml:3:"),
        ("notifications:\n  events: [sucess]\n", "config.yaml:2:"),
    ],
)
def test_a_bad_notifications_section_is_refused_at_its_line(
    tmp_path: Path, text: str, where: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError, match=where):
        load_settings(path)
