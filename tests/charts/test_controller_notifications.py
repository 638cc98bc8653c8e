"""charts/modelsync's logFormat and notifications: the chart and the controller agree.

Both are keys of schemas/controller-config.schema.json, which the chart's values schema
copies (charts/configschema.py); the config the chart renders starts a controller that
reports to the receivers it names, with the secrets mounted where the controller reads
them, and a secret written into the values is refused by ``helm install``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from controller.core.notifications import NotifySecrets
from controller.engine.notifications import build_notifier
from controller.engine.settings import SettingsError, load_settings
from tests.charts.rendering import (
    chart,
    configmap_file,
    container,
    mounts_of,
    pod_spec,
    render,
    scenario,
)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"notifications": {"events": ["sucess"]}}, "at '/config/notifications/events/0'"),
        ({"notifications": {"github": {"token": "ghp_x"}}}, "additional properties 'token'"),
        ({"notifications": {"webhook": {"hmac": "k"}}}, "additional properties 'hmac'"),
        ({"logFormat": "yaml"}, "at '/config/logFormat'"),
    ],
)
def test_helm_refuses_bad_notification_values_and_secrets_in_them(
    bad: dict[str, Any], message: str
) -> None:
    values = scenario("modelsync", "notifications").values
    values = {**values, "config": {**values["config"], **bad}}
    with pytest.raises(helm_python.HelmValuesError) as refused:
        chart("modelsync").validate_schema(values)
    assert message in str(refused.value)


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
