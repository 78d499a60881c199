"""Shared pytest options: ``--device`` runs the device-agnostic tests on another torch device (e.g. cuda)."""

from __future__ import annotations

import os

import pytest
import torch

# Under pytest-xdist every worker is a process of its own: one torch thread each keeps the workers
# from oversubscribing the cores (on 2 cores, 2 workers × 2 threads ran 3-5× slower).
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", help="torch device for device-agnostic tests (cpu, cuda, cuda:1 …)")


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> str:
    """The torch device chosen with ``--device`` (default cpu)."""
    return str(request.config.getoption("--device"))
