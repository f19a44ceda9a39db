"""Fixtures for the real servers tests share (imported by tests/conftest.py): sshd, moto's S3/EC2."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.moto import MotoUnavailable, moto_server
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


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    """A fresh moto server (its own empty S3 and EC2) per test module: the endpoint URL."""
    try:
        with moto_server() as url:
            yield url
    except MotoUnavailable as exc:
        pytest.skip(str(exc))
