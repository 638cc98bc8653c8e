"""The controller's config file, checked against schemas/controller-config.schema.json: the
same schema the controller chart's values carry, so `helm install` and the controller
accept exactly the same config."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from controller.adapters.helmtarget import HelmTarget
from controller.adapters.hydrate import HydrateTarget
from controller.core.chartpolicy import ChartPolicy
from controller.engine.settings import (
    Settings,
    SettingsError,
    chart_policy,
    default_concurrency,
    load_settings,
)

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "schemas/controller-config.schema.json").read_text())


def load(tmp_path: Path, text: str) -> Settings:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    return load_settings(config)


def test_every_key_of_the_schema_is_a_setting() -> None:
    """Adding a key is a schema edit plus a field: the loader maps camelCase to snake_case."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    reshaped = {"repo": "repo", "charts": "charts_repository", "policy": "chart_policy"}
    for key in SCHEMA["properties"]:
        name = reshaped.get(key) or "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
        assert name in fields, key


def test_durations_and_empty_refs(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        "cluster: prod\nrepo: {url: 'https://x.test/r.git', tag: '', commit: '', branch: main}\n"
        "interval: 1m30s\ntimeout: 90\n",
    )
    assert (settings.interval, settings.timeout) == (90.0, 90.0)
    assert (settings.branch, settings.tag, settings.commit) == ("main", None, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "intervall: 30s\n",
            "config.yaml:1: intervall: unknown field 'intervall' (did you mean 'interval'?)",
        ),
        (
            "interval: 1 minute\n",
            "config.yaml:1: interval: must be a duration such as 30s",
        ),
        (
            "repo: {url: 'github.com/acme/r'}\n",
            "config.yaml:1: repo.url: 'github.com/acme/r' is not a repository URL",
        ),
        (
            "policy: {allowPrivileged: 1}\n",
            "config.yaml:1: policy.allowPrivileged: must be true or false",
        ),
        ("drift: fix\n", "config.yaml:1: drift: must be one of 'off', 'warn', 'correct'"),
        ("concurrency: 0\n", "config.yaml:1: concurrency:"),
    ],
)
def test_a_bad_config_names_the_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load(tmp_path, text)
    assert message in str(refused.value)


def test_concurrency_is_the_configs_else_the_targets_default(tmp_path: Path) -> None:
    assert load(tmp_path, "concurrency: 4\n").concurrency == 4
    assert load(tmp_path, "cluster: dev\n").concurrency is None
    helm = object.__new__(HelmTarget)  # the default depends on the kind of target alone
    hydrate = object.__new__(HydrateTarget)
    assert default_concurrency(helm) == 4
    assert default_concurrency(hydrate) == min(4, os.cpu_count() or 1)


def test_the_policy_and_the_controllers_own_chart_source(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        "charts: {repository: 'oci://ghcr.io/acme/charts/'}\n"
        "policy: {allowedEnv: [HTTP_PROXY], chartRepositories: ['https://charts.acme.test']}\n",
    )
    policy = chart_policy(settings)
    assert policy.allowed_env == frozenset({"HTTP_PROXY"})
    assert policy.chart_repositories == ("https://charts.acme.test", "oci://ghcr.io/acme/charts")
    assert chart_policy(load(tmp_path, "cluster: prod\n")) == ChartPolicy()
