"""Session fixtures for the real sshd (imported by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.sshd import SshdHandle, SshdUnavailable, remove_workdir, start_sshd


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[SshdHandle]:
    """One real sshd on 127.0.0.1:<free port> for the session; login user ``plinthtest``."""
    try:
        handle = start_sshd()
    except SshdUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield handle
    finally:
        handle.stop()
        remove_workdir(handle)
