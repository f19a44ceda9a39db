"""Session fixture for the fabric tests that run the real tools (Debian packages, installed when
missing; CI is root with apt, so there they run)."""

from __future__ import annotations

import pytest

from tests.support.apt import ensure_packages

FABRIC_PACKAGES = {"fi_pingpong": "libfabric-bin", "mpirun": "openmpi-bin", "orted": "openmpi-bin", "ib_write_bw": "perftest"}


@pytest.fixture(scope="session")
def fabric_tools() -> None:
    """fi_pingpong (libfabric's tcp provider runs without RDMA hardware), Open MPI, perftest."""
    reason = ensure_packages(FABRIC_PACKAGES)
    if reason:
        pytest.skip(reason)
