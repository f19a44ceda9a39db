"""Transports by name (like testinfra's backends): the inventory's ``transport:`` picks one.

``make_transport(node)`` is the one place a node's inventory entry becomes a connection object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from validators.transport.base import CommandResult, RunningCommand, Transport, TransportError
from validators.transport.local import LocalTransport
from validators.transport.ssh import SshTarget, SshTransport

if TYPE_CHECKING:
    from validators.inventory import NodeSpec

TRANSPORTS: dict[str, type] = {"ssh": SshTransport, "local": LocalTransport}


def _ssh(node: NodeSpec, accept_new_host_keys: bool) -> Transport:
    target = SshTarget(node.host, node.port, node.user, node.identity_file, node.known_hosts, node.host_key_alias)
    jump = None
    if node.jump is not None:
        j = node.jump
        jump = SshTarget(j.host, j.port, j.user or node.user, j.identity_file or node.identity_file,
                         j.known_hosts or node.known_hosts)
    evidence = None
    if node.ec2 is not None:  # an EC2 node: its first-boot console output can verify a new host key
        from validators.hostkeys.ec2 import Ec2ConsoleEvidence

        evidence = Ec2ConsoleEvidence(node.ec2.instance_id, node.ec2.region)
    return SshTransport(target, jump=jump, accept_new_host_keys=accept_new_host_keys,
                        proxy_command=node.proxy_command, host_key_evidence=evidence)


def _local(node: NodeSpec, accept_new_host_keys: bool) -> Transport:
    return LocalTransport()


_FACTORIES: dict[str, Callable[[NodeSpec, bool], Transport]] = {"ssh": _ssh, "local": _local}


def make_transport(node: NodeSpec, accept_new_host_keys: bool = False) -> Transport:
    return _FACTORIES[node.transport](node, accept_new_host_keys)


__all__ = [
    "TRANSPORTS", "CommandResult", "LocalTransport", "RunningCommand", "SshTarget", "SshTransport",
    "Transport", "TransportError", "make_transport",
]
