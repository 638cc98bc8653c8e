"""Fixtures for the KAITO corpus: the shipped schemas and catalog."""

from __future__ import annotations

import pytest

from controller.adapters.bundled import Bundle, load_bundle


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    return load_bundle()
