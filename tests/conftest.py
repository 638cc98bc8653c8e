"""Shared pytest fixtures: each plugin module in tests/support brings one kind of local server."""

pytest_plugins = ["tests.support.kubefixtures", "tests.support.gitfixtures"]
