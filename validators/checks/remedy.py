"""Remediation wording that depends on where the node runs: a cloud instance or bare metal.

A faulty GPU, NVLink or NIC is fixed differently by who owns the hardware. On a cloud instance the
operator cannot reseat anything: stopping and starting the instance (a reboot is not enough) moves
it to other hardware, or the instance is replaced — AWS "Troubleshoot instances: stop and start"
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/TroubleshootingInstances.html), Azure
"deallocate / redeploy" (https://learn.microsoft.com/azure/virtual-machines/redeploy-to-new-node-linux),
Google Cloud "stop and start moves the VM to a new host". On bare metal the part is reseated, then
returned (RMA) if the fault comes back. Judges call :func:`hardware_remedy`; they never hard-code
one cloud's wording (or its values, such as AWS's 9001-byte MTU) for every node.

The platform comes from the probe: ``facts["system"]["platform"]["kind"]`` is one of "aws",
"azure", "gcp", "oci", "cloud-other", "bare-metal", "unknown" (see
``validators/probe/gather/_platform.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CLOUD_KINDS = ("aws", "azure", "gcp", "oci", "cloud-other")

# what moves a VM to other hardware, in each provider's words
_MOVE = {
    "aws": "stop and start the instance (a reboot keeps the same host; stop/start moves it to other hardware) or replace it",
    "azure": "deallocate and start (or redeploy) the VM so it lands on another host, or replace it",
    "gcp": "stop and start the instance (it moves to another host) or replace it",
    "oci": "stop and start the instance (it moves to other hardware) or replace it",
    "cloud-other": "stop and start the instance or VM (it moves to other hardware) or replace it",
}


def platform_kind(facts: Mapping[str, Any]) -> str:
    """The node's platform kind from its facts; "unknown" when the probe did not say."""
    system = facts.get("system")
    platform = system.get("platform") if isinstance(system, Mapping) else None
    kind = platform.get("kind") if isinstance(platform, Mapping) else None
    return kind if isinstance(kind, str) and (kind in CLOUD_KINDS or kind in ("bare-metal", "unknown")) else "unknown"


def hardware_remedy(facts: Mapping[str, Any], part: str, *, cloud_first: str = "", metal_first: str = "") -> str:
    """One sentence telling the operator how to get off faulty hardware, for this node's platform.

    ``part``: the faulty component, as the sentence should name it ("the GPU", "the NVLink
    baseboard"). ``cloud_first`` / ``metal_first``: an optional step to try before (e.g. "reset
    the GPU (nvidia-smi -r)"), used on that kind of platform. Examples::

        hardware_remedy(facts, "the GPU")
        # aws:        "Drain the node, then stop and start the instance (a reboot keeps the same
        #              host; stop/start moves it to other hardware) or replace it."
        # bare metal: "Drain the node, reseat the GPU, and RMA it if the fault returns."
        # unknown:    both, each prefixed with the platform it applies to.
    """
    kind = platform_kind(facts)
    metal = f"reseat {part}, and RMA it if the fault returns"
    if metal_first:
        metal = f"{metal_first}; if that does not clear it, {metal}"
    if kind in _MOVE:
        cloud = _MOVE[kind]
        if cloud_first:
            cloud = f"{cloud_first}; if that does not clear it, {cloud}"
        return f"Drain the node, then {cloud}."
    if kind == "bare-metal":
        return f"Drain the node, {metal}."
    cloud = _MOVE["cloud-other"]
    if cloud_first:
        cloud = f"{cloud_first}; if that does not clear it, {cloud}"
    return f"Drain the node. On a cloud instance: {cloud}. On bare metal: {metal}."
