"""Fixtures of the end-to-end tests."""

from tests.e2e.api_world import api
from tests.e2e.site_world import site

__all__ = ["api", "site"]
