"""Cluster-only tests: skipped unless ``make test-citus`` runs them."""

from __future__ import annotations

import citus_kit
import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if citus_kit.coordinator_dsn():
        return
    skip = pytest.mark.skip(reason=f"needs a Citus cluster ({citus_kit.ENV}; make test-citus)")
    for item in items:
        if "tests/citus/" in item.nodeid:
            item.add_marker(skip)
