"""Fixtures of the end-to-end tests: the shared real servers (see servers.py)."""

import pytest

from face_assets_tests.e2e import servers as servers_module


@pytest.fixture
def servers():
    # Function scope on purpose: the servers themselves are shared (servers.acquire) and stopped after the last
    # test that needs them, so a later test that needs them again gets fresh ones rather than a stopped handle.
    """dagster-webserver + dagster-daemon on this project's workspace, PostgreSQL storage, an empty library root."""
    try:
        return servers_module.acquire()
    except servers_module.ServersError as exc:
        if not servers_module.LEGACY_DB.exists():
            pytest.skip(str(exc))
        raise


def pytest_runtest_teardown(item, nextitem):
    servers_module.release_unless_needed(item, nextitem)
