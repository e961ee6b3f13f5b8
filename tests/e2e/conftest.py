"""Fixtures of the end-to-end tests."""

from tests.e2e.api_world import api

__all__ = ["api"]
