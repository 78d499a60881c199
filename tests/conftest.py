"""Shared pytest options: ``--device`` runs the device-agnostic tests on another torch device (e.g. cuda)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", help="torch device for device-agnostic tests (cpu, cuda, cuda:1 …)")


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> str:
    """The torch device chosen with ``--device`` (default cpu)."""
    return str(request.config.getoption("--device"))
