"""Shared fixtures, defined in tests/support and imported here (only import lines in this file)."""

from tests.support.fixtures import moto, sshd_server  # noqa: F401  (moto_server, real sshd on 127.0.0.1)
from tests.support.netns import ns_fleet, ns_fleet_sshd  # noqa: F401  (3 namespaced hosts: slow link, small MTU)
from tests.support.typecheck import pytest_collection_finish, pytest_sessionfinish  # noqa: F401  (pyright in the background)
