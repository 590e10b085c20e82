"""Fixtures of the fault tests: the real servers shared with e2e/ (see face_assets_tests/e2e/servers.py)."""

import pytest

from face_assets_tests.e2e import servers as servers_module


@pytest.fixture
def servers():
    """dagster-webserver + dagster-daemon on this project's workspace (function scope: see e2e/conftest.py)."""
    try:
        return servers_module.acquire()
    except servers_module.ServersError as exc:
        if not servers_module.LEGACY_DB.exists():
            pytest.skip(str(exc))
        raise


def pytest_runtest_teardown(item, nextitem):
    servers_module.release_unless_needed(item, nextitem)
