"""Helpers every GPU judge shares: naming GPUs in messages and getting the node's GPUs (or the
one result to return when there are none to judge).

When the node has no usable GPU (no NVIDIA driver, no devices), ``gpu.count`` fails with the
reason and the other GPU checks skip pointing at it, so one missing driver reads as one failure,
not ten. Without ``gpu.count`` in the profile they say ``error`` instead (nothing hides it). When
the tool's output was cut off (``facts["gpu"]["incomplete"]``) every GPU check says ``error``:
judging the GPUs that were described would pass a node whose other GPUs nobody saw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policies.catalogue import GpuModel, gpu_model
from policies.thresholds import Threshold
from validators.checks.base import CheckContext, Facts
from validators.checks.compare import not_applicable, not_run, section_problem
from validators.results import CheckResult

Device = Mapping[str, Any]

DRIVER_HINT = (
    "Install/load the NVIDIA driver (e.g. the EKS/DLAMI accelerated AMI or the GPU operator), check `nvidia-smi`, "
    "and for a missing GPU look for Xid 79 in dmesg; reboot, then drain and RMA if it stays missing."
)


def name(dev: Device) -> str:
    pci = dev.get("pci")
    return f"GPU {dev.get('index')}" + (f" ({pci})" if pci else "")


def names(devs: Sequence[Device], limit: int = 8) -> str:
    shown = ", ".join(name(d) for d in devs[:limit])
    return shown + (f" and {len(devs) - limit} more" if len(devs) > limit else "")


def devices(check_id: str, facts: Facts, threshold: Threshold, ctx: CheckContext) -> tuple[list[Device], CheckResult | None]:
    """The node's GPUs, or the result to return when there are none to judge."""
    problem = section_problem(facts, "gpu")
    if problem:
        return [], not_run(check_id, problem, threshold=threshold)
    gpu = facts["gpu"]
    if gpu.get("incomplete"):
        return [], not_run(check_id, str(gpu["incomplete"]), threshold=threshold,
                           remediation="Run `nvidia-smi -q` on the node by hand: a hung or crashing driver cuts its output short.")
    found = list(gpu.get("devices") or [])
    if found:
        return found, None
    reason = gpu.get("error") or "no GPUs visible"
    if "gpu.count" in ctx.profile.thresholds:
        return [], not_applicable(check_id, f"no GPU to check: {reason}; see gpu.count", threshold=threshold)
    return [], not_run(check_id, reason, threshold=threshold, remediation=DRIVER_HINT)


def reporting(check_id: str, facts: Facts, threshold: Threshold, ctx: CheckContext, *fields: str,
              missing: str) -> tuple[list[Device], CheckResult | None]:
    """The node's GPUs that report every one of ``fields``, or the result to return: no GPU to judge
    (:func:`devices`), or none of them reports those fields (could not run: ``missing`` says what)."""
    found, early = devices(check_id, facts, threshold, ctx)
    if early:
        return [], early
    known = [d for d in found if all(d.get(f) is not None for f in fields)]
    if not known:
        return [], not_run(check_id, missing, threshold=threshold)
    return known, None


def model_of(devs: Sequence[Device]) -> GpuModel | None:
    """The catalogue row of the node's GPUs (the first GPU's; a mixed node is gpu.model's finding)."""
    return gpu_model(next((d.get("name") for d in devs if d.get("name")), None))
