"""Shared pytest fixtures: each plugin module brings one kind of local server (tests/support,
tests/controlplane)."""

pytest_plugins = [
    "tests.support.kubefixtures",
    "tests.support.gitfixtures",
    "tests.controlplane.fixtures",
]
