"""GPU judges: count, model, memory, temperature, persistence mode. Pure functions over
``facts["gpu"]``. The device-health families live beside this module: ``gpu_memory`` (ECC, page
retirement, row remapping), ``gpu_clocks`` (clock event reasons), ``gpu_links`` (PCIe, NVLink),
``gpu_fabric`` (NVSwitch / Fabric Manager), ``gpu_fleet`` (versions across a pool); ``_gpu`` holds
what they share. Kernel-log Xid and SXid events: ``validators/checks/xid.py``.
"""

from __future__ import annotations

from policies.thresholds import Threshold
from validators.checks import _gpu
from validators.checks.base import CheckContext, Facts, check
from validators.checks.compare import (
    at_least,
    at_most,
    expect_equal,
    fmt,
    not_applicable,
    not_run,
    section_problem,
)
from validators.results import CheckResult

# usable memory is below the marketing size (ECC, driver reservations): an "80 GB" H100 shows
# 79.6 GiB, a "24 GB" A10G 22.5 GiB, a "16 GB" T4 15 GiB
CATALOGUE_MEMORY_TOLERANCE = 0.08


@check("gpu.count")
def gpu_count(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    problem = section_problem(facts, "gpu")
    if problem:
        return not_run("gpu.count", problem, threshold=threshold)
    inst = ctx.instance
    if inst is not None and inst.accelerator != "nvidia":
        return not_applicable("gpu.count", f"{inst.name} carries {inst.gpu_model} accelerators, not NVIDIA GPUs", threshold=threshold)
    wants = {"profile minimum": int(threshold.min or 0)}
    if ctx.expect.get("gpus") is not None:
        wants["inventory expect.gpus"] = int(ctx.expect["gpus"])
    if inst is not None:
        wants[f"{inst.name} catalogue"] = inst.gpus
    source, want = max(wants.items(), key=lambda kv: kv[1])
    gpu = facts["gpu"]
    devices = gpu.get("devices") or []
    unit = threshold.unit or "GPUs"
    if gpu.get("error") and "timed out" in str(gpu["error"]):
        # a hung nvidia-smi says nothing about how many GPUs there are: could not run, not "0 visible"
        return not_run("gpu.count", f"{gpu['error']}: GPU count unknown", threshold=threshold,
                       remediation="A hung nvidia-smi often means a GPU fell off the bus: look for Xid 79 in dmesg, "
                       "check `nvidia-smi` by hand, drain and reboot the node.")
    if gpu.get("incomplete"):  # some GPUs went undescribed: their count is not known either
        return not_run("gpu.count", str(gpu["incomplete"]), threshold=threshold,
                       remediation="Run `nvidia-smi -q` on the node by hand: a hung or crashing driver cuts its output short.")
    if gpu.get("error"):
        return CheckResult.make(
            "gpu.count", "fail", f"{gpu['error']}: 0 of {want} GPUs visible",
            measured=0, threshold=want, unit=unit, remediation=_gpu.DRIVER_HINT,
        )
    result = at_least("gpu.count", len(devices), threshold, what="GPUs visible", floor=want, unit=unit, warn=False, remediation=_gpu.DRIVER_HINT)
    msg = (f"{len(devices)} of {want} GPUs visible (expected by {source})" if len(devices) <= want  # "8 of 1" reads as a fault
           else f"{len(devices)} GPUs visible (at least {want} expected by {source})")
    attached = gpu.get("attached_gpus")
    if isinstance(attached, int) and attached != len(devices):
        msg += f"; the driver reports {attached} attached"
    notes = [n for n in gpu.get("notes") or [] if "No devices were found" in n]
    if notes:
        msg += f"; {notes[0]}"
    if result.status == "pass" and isinstance(attached, int) and attached > len(devices):
        # enough GPUs for the profile, but one the driver counts went undescribed: a GPU nvidia-smi cannot
        # get a handle for ("Unable to determine the device handle ... GPU is lost") is not a healthy GPU,
        # and a cut-off output proves nothing about it either way -- never a pass
        return not_run("gpu.count", f"{msg}: {attached - len(devices)} attached GPU(s) undescribed", threshold=threshold,
                       remediation="Run `nvidia-smi -q` on the node: a GPU reported as lost or unreadable fell off the bus "
                       "(look for Xid 79 in dmesg); drain the node, reboot, and RMA the GPU if it stays missing.")
    return result.model_copy(update={"message": msg})


@check("gpu.model")
def gpu_model(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _gpu.devices("gpu.model", facts, threshold, ctx)
    if early:
        return early
    expected = ctx.expect.get("gpu_model") or (ctx.instance.gpu_model if ctx.instance else None) or threshold.expect
    names = sorted({str(d.get("name")) for d in devices})
    if not isinstance(expected, str) or not expected:
        return not_applicable("gpu.model", f"no expected model (set expect.gpu_model in the inventory); node has {', '.join(names)}")
    wrong = [d for d in devices if expected.casefold() not in str(d.get("name") or "").casefold()]
    measured = ", ".join(names)
    if wrong:
        return CheckResult.make(
            "gpu.model", "fail", f"{len(wrong)} of {len(devices)} GPUs are not {expected}: {_gpu.names(wrong)} report {measured}",
            measured=measured, threshold=expected,
            remediation="The node is not the instance type the inventory expects: check the launch template / node group.",
        )
    return CheckResult.make("gpu.model", "pass", f"all {len(devices)} GPUs are {measured} (expected {expected})", measured=measured, threshold=expected)


@check("gpu.memory")
def gpu_memory(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    known, early = _gpu.reporting("gpu.memory", facts, threshold, ctx, "memory_total_mib",
                                  missing="no GPU reported its memory size")
    if early:
        return early
    smallest = min(known, key=lambda d: d["memory_total_mib"])
    gib = round(smallest["memory_total_mib"] / 1024, 1)
    what = f"smallest GPU memory ({_gpu.name(smallest)})"
    if threshold.min is not None:
        return at_least("gpu.memory", gib, threshold, what=what, unit="GiB")
    if ctx.instance is not None:
        floor = round(ctx.instance.gpu_memory_gib * (1 - CATALOGUE_MEMORY_TOLERANCE), 1)
        what += f" vs {ctx.instance.name}'s {fmt(ctx.instance.gpu_memory_gib)} GiB less {CATALOGUE_MEMORY_TOLERANCE:.0%} reserved"
        return at_least("gpu.memory", gib, threshold, what=what, floor=floor, unit="GiB", warn=False)
    return not_applicable("gpu.memory", f"no memory bound (profile min or instance type); smallest GPU has {fmt(gib)} GiB")


@check("gpu.temperature")
def gpu_temperature(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    known, early = _gpu.reporting("gpu.temperature", facts, threshold, ctx, "temperature_c",
                                  missing="no GPU reported its temperature")
    if early:
        return early
    hottest = max(known, key=lambda d: d["temperature_c"])
    return at_most("gpu.temperature", hottest["temperature_c"], threshold, what=f"hottest GPU ({_gpu.name(hottest)})", unit=threshold.unit or "C",
                   remediation="Check airflow, fans and inlet temperature; throttling starts near the slowdown limit.")


# NVIDIA "Driver Persistence" guide (https://docs.nvidia.com/deploy/driver-persistence/): the persistence
# daemon is the supported way; `nvidia-smi -pm 1` is the legacy mode and does not survive a reboot
PERSISTENCE_FIX = ("Run NVIDIA's persistence daemon so the GPUs stay initialised between jobs: "
                   "`sudo systemctl enable --now nvidia-persistenced` (the legacy `nvidia-smi -pm 1` is lost at reboot).")


@check("gpu.persistence_mode")
def gpu_persistence_mode(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    known, early = _gpu.reporting("gpu.persistence_mode", facts, threshold, ctx, "persistence_mode",
                                  missing="persistence mode not reported")
    if early:
        return early
    off = [d for d in known if not d["persistence_mode"]]
    result = expect_equal("gpu.persistence_mode", not off, threshold, what="persistence mode on every GPU",
                          remediation=PERSISTENCE_FIX)
    if off:
        return result.model_copy(update={"message": f"persistence mode off on {len(off)} of {len(known)} GPUs: {_gpu.names(off)}"})
    return result.model_copy(update={"message": f"persistence mode on for all {len(known)} GPUs"})
