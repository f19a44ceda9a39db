"""Fixtures of the reliability suite (real sshd and namespaces come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.support import NodeDir


@pytest.fixture(scope="session")
def node_dir() -> Iterator[NodeDir]:
    d = NodeDir()
    try:
        yield d
    finally:
        d.remove()
