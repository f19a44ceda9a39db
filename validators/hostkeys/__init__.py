"""Evidence for a node's SSH host key beyond trust-on-first-use.

A known_hosts file answers for nodes seen before. A node the validator has never met (a fresh GPU
node the autoscaler just launched) is unknown; instead of trusting whatever key it presents, the
transport asks a :class:`HostKeyEvidence` what the platform says the key is:

- ``console``: the fingerprints and keys cloud-init printed to the instance's console at first
  boot, parsed strictly (pure);
- ``ec2``: reading that console through EC2 GetConsoleOutput (the one boundary to AWS).

The verdict is ``verified`` (the key is recorded in known_hosts, like an accepted one), ``mismatch``
(refused, even with --accept-new-host-keys: that is what a man in the middle looks like) or
``no-evidence`` (the usual rule: refused unless the user opted into trust-on-first-use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Status = Literal["verified", "mismatch", "no-evidence"]


@dataclass(frozen=True)
class HostKeyVerdict:
    status: Status
    reason: str  # one line, no key material beyond public fingerprints


class HostKeyEvidence(Protocol):
    def verify(self, key_type: str, key_blob: bytes) -> HostKeyVerdict: ...


__all__ = ["HostKeyEvidence", "HostKeyVerdict", "Status"]
