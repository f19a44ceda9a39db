"""Shared fixtures. Each engineer adds only import lines here."""

from tests.support.fixtures import sshd_server  # noqa: F401  (real sshd on 127.0.0.1)
from tests.support.netns import ns_fleet, ns_fleet_sshd  # noqa: F401  (3 namespaced hosts: slow link, small MTU)
