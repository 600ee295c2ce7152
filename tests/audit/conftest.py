"""The earning world (tests/awards) for the export tests."""

from tests.awards.conftest import earning  # noqa: F401
