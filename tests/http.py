"""The HTTP client under its old name, for tests/cluster/ until it imports
tests.utils.http directly."""

from tests.utils.http import Answer, request

__all__ = ["Answer", "request"]
