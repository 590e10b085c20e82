"""Fixtures of the fault tests: the real servers shared with e2e/ (the same fixture and teardown hook)."""

from face_assets_tests.e2e.conftest import pytest_runtest_teardown, servers  # noqa: F401
