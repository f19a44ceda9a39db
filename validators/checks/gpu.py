"""GPU judges: count, model, memory, ECC, retired pages / row remapping, temperature,
persistence mode, PCIe link, NVLink. Pure functions over ``facts["gpu"]`` (kernel-log Xid and SXid
events: ``validators/checks/xid.py``).

When the node has no usable GPU (no NVIDIA driver, no devices), ``gpu.count`` fails with the
reason and the other GPU checks skip pointing at it, so one missing driver reads as one failure,
not ten. Without ``gpu.count`` in the profile they say ``error`` instead (nothing hides it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policies.thresholds import Threshold
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

Device = Mapping[str, Any]
# usable memory is below the marketing size (ECC, driver reservations): an "80 GB" H100 shows
# 79.6 GiB, a "24 GB" A10G 22.5 GiB, a "16 GB" T4 15 GiB
CATALOGUE_MEMORY_TOLERANCE = 0.08


def _name(dev: Device) -> str:
    pci = dev.get("pci")
    return f"GPU {dev.get('index')}" + (f" ({pci})" if pci else "")


def _names(devs: Sequence[Device], limit: int = 8) -> str:
    shown = ", ".join(_name(d) for d in devs[:limit])
    return shown + (f" and {len(devs) - limit} more" if len(devs) > limit else "")


def _devices(check_id: str, facts: Facts, threshold: Threshold, ctx: CheckContext) -> tuple[list[Device], CheckResult | None]:
    """The node's GPUs, or the result to return when there are none to judge."""
    problem = section_problem(facts, "gpu")
    if problem:
        return [], not_run(check_id, problem, threshold=threshold)
    gpu = facts["gpu"]
    devices = list(gpu.get("devices") or [])
    if devices:
        return devices, None
    reason = gpu.get("error") or "no GPUs visible"
    if "gpu.count" in ctx.profile.thresholds:
        return [], not_applicable(check_id, f"no GPU to check: {reason}; see gpu.count", threshold=threshold)
    return [], not_run(check_id, reason, threshold=threshold, remediation=_DRIVER_HINT)


_DRIVER_HINT = (
    "Install/load the NVIDIA driver (e.g. the EKS/DLAMI accelerated AMI or the GPU operator), check `nvidia-smi`, "
    "and for a missing GPU look for Xid 79 in dmesg; reboot, then drain and RMA if it stays missing."
)


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
    if gpu.get("error"):
        return CheckResult.make(
            "gpu.count", "fail", f"{gpu['error']}: 0 of {want} GPUs visible",
            measured=0, threshold=want, unit=unit, remediation=_DRIVER_HINT,
        )
    result = at_least("gpu.count", len(devices), threshold, what="GPUs visible", floor=want, unit=unit, warn=False, remediation=_DRIVER_HINT)
    msg = f"{len(devices)} of {want} GPUs visible (expected by {source})"
    attached = gpu.get("attached_gpus")
    if isinstance(attached, int) and attached != len(devices):
        msg += f"; the driver reports {attached} attached"
    notes = [n for n in gpu.get("notes") or [] if "No devices were found" in n]
    if notes:
        msg += f"; {notes[0]}"
    return result.model_copy(update={"message": msg})


@check("gpu.model")
def gpu_model(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _devices("gpu.model", facts, threshold, ctx)
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
            "gpu.model", "fail", f"{len(wrong)} of {len(devices)} GPUs are not {expected}: {_names(wrong)} report {measured}",
            measured=measured, threshold=expected,
            remediation="The node is not the instance type the inventory expects: check the launch template / node group.",
        )
    return CheckResult.make("gpu.model", "pass", f"all {len(devices)} GPUs are {measured} (expected {expected})", measured=measured, threshold=expected)


@check("gpu.memory")
def gpu_memory(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _devices("gpu.memory", facts, threshold, ctx)
    if early:
        return early
    known = [d for d in devices if d.get("memory_total_mib") is not None]
    if not known:
        return not_run("gpu.memory", "no GPU reported its memory size", threshold=threshold)
    smallest = min(known, key=lambda d: d["memory_total_mib"])
    gib = round(smallest["memory_total_mib"] / 1024, 1)
    what = f"smallest GPU memory ({_name(smallest)})"
    if threshold.min is not None:
        return at_least("gpu.memory", gib, threshold, what=what, unit="GiB")
    if ctx.instance is not None:
        floor = round(ctx.instance.gpu_memory_gib * (1 - CATALOGUE_MEMORY_TOLERANCE), 1)
        what += f" vs {ctx.instance.name}'s {fmt(ctx.instance.gpu_memory_gib)} GiB less {CATALOGUE_MEMORY_TOLERANCE:.0%} reserved"
        return at_least("gpu.memory", gib, threshold, what=what, floor=floor, unit="GiB", warn=False)
    return not_applicable("gpu.memory", f"no memory bound (profile min or instance type); smallest GPU has {fmt(gib)} GiB")


@check("gpu.ecc_errors")
def gpu_ecc_errors(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _devices("gpu.ecc_errors", facts, threshold, ctx)
    if early:
        return early
    counted = []
    for d in devices:
        values = [v for v in (d.get("ecc_uncorrected_volatile"), d.get("ecc_uncorrected_aggregate")) if v is not None]
        if values:
            counted.append((d, max(values)))  # aggregate is lifetime and includes the volatile ones
    if not counted:
        modes = sorted({str(d.get("ecc_mode")) for d in devices})
        return not_applicable("gpu.ecc_errors", f"ECC counters not reported (ECC mode {', '.join(modes)}: consumer GPUs have no ECC)", threshold=threshold)
    total = sum(n for _, n in counted)
    bad = [(d, n) for d, n in counted if n > 0]
    result = at_most("gpu.ecc_errors", total, threshold, what="uncorrectable ECC errors", unit=threshold.unit or "errors",
                     remediation="Drain the node, reset the GPUs (nvidia-smi -r) and re-check; RMA a GPU whose count keeps rising.")
    if result.status == "fail":
        detail = "; ".join(f"{_name(d)}: {n}" for d, n in bad[:8])
        return result.model_copy(update={"message": f"{total} uncorrectable ECC errors (max {fmt(result.threshold)}) on {detail}"})
    disabled = [d for d in devices if d.get("ecc_mode") == "Disabled"]
    if disabled and len(disabled) < len(devices):
        return result.model_copy(update={"status": "warn", "message": result.message + f"; ECC disabled on {_names(disabled)}",
                                         "remediation": "Enable ECC: sudo nvidia-smi -e 1 and reboot."})
    return result


@check("gpu.retired_pages")
def gpu_retired_pages(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _devices("gpu.retired_pages", facts, threshold, ctx)
    if early:
        return early
    pending = [d for d in devices if d.get("retired_pages_pending")]
    failed = [d for d in devices if d.get("remapped_rows_failure")]
    remap_pending = [d for d in devices if d.get("remapped_rows_pending")]
    unit = threshold.unit or "pages"
    if failed:
        return CheckResult.make(
            "gpu.retired_pages", "fail", f"row remapping failed on {_names(failed)}: the GPU can't hide its bad memory any more",
            measured=len(failed), threshold=threshold.max, unit=unit, remediation="Drain the node and RMA the GPU (row remap failure).",
        )
    if pending or remap_pending:
        parts = ([f"page retirement pending on {_names(pending)}"] if pending else []) + (
            [f"row remap pending on {_names(remap_pending)}"] if remap_pending else [])
        return CheckResult.make(
            "gpu.retired_pages", "fail", "; ".join(parts) + " (takes effect after a GPU reset)",
            measured=len(pending) + len(remap_pending), threshold=threshold.max, unit=unit,
            remediation="Drain the node and reset the GPUs (nvidia-smi -r or reboot) so retirement/remapping is applied.",
        )
    counts = [(d, int(d["retired_pages_count"])) for d in devices if d.get("retired_pages_count") is not None]
    remap_known = any(d.get("remapped_rows_failure") is not None for d in devices)
    if not counts and not remap_known:
        return not_applicable("gpu.retired_pages", "neither page retirement nor row remapping is reported for these GPUs", threshold=threshold)
    total = sum(n for _, n in counts)
    result = at_most("gpu.retired_pages", total, threshold, what="retired GPU memory pages", unit=unit,
                     remediation="Retired pages point at failing HBM/GDDR: watch the count; RMA past NVIDIA's limit (e.g. 64 DBE pages).")
    if result.status == "fail":
        detail = "; ".join(f"{_name(d)}: {n}" for d, n in counts if n)
        return result.model_copy(update={"message": result.message + f" on {detail}"})
    if not counts:
        return result.model_copy(update={"message": f"no pending retirements or row-remap failures on {len(devices)} GPUs (row remapping)"})
    return result


@check("gpu.temperature")
def gpu_temperature(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _devices("gpu.temperature", facts, threshold, ctx)
    if early:
        return early
    known = [d for d in devices if d.get("temperature_c") is not None]
    if not known:
        return not_run("gpu.temperature", "no GPU reported its temperature", threshold=threshold)
    hottest = max(known, key=lambda d: d["temperature_c"])
    return at_most("gpu.temperature", hottest["temperature_c"], threshold, what=f"hottest GPU ({_name(hottest)})", unit=threshold.unit or "C",
                   remediation="Check airflow, fans and inlet temperature; throttling starts near the slowdown limit.")


@check("gpu.persistence_mode")
def gpu_persistence_mode(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _devices("gpu.persistence_mode", facts, threshold, ctx)
    if early:
        return early
    known = [d for d in devices if d.get("persistence_mode") is not None]
    if not known:
        return not_run("gpu.persistence_mode", "persistence mode not reported", threshold=threshold)
    off = [d for d in known if not d["persistence_mode"]]
    result = expect_equal("gpu.persistence_mode", not off, threshold, what="persistence mode on every GPU",
                          remediation="Enable nvidia-persistenced (or `sudo nvidia-smi -pm 1`) so the driver stays loaded between jobs.")
    if off:
        return result.model_copy(update={"message": f"persistence mode off on {len(off)} of {len(known)} GPUs: {_names(off)}"})
    return result.model_copy(update={"message": f"persistence mode on for all {len(known)} GPUs"})


@check("gpu.pcie_link")
def gpu_pcie_link(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _devices("gpu.pcie_link", facts, threshold, ctx)
    if early:
        return early
    known = [d for d in devices if d.get("pcie_width_current") is not None and d.get("pcie_width_max") is not None]
    if not known:
        return not_run("gpu.pcie_link", "PCIe link state not reported", threshold=threshold)
    narrow = [d for d in known if d["pcie_width_current"] < d["pcie_width_max"]]
    slow = [d for d in known if (d.get("pcie_gen_current") or 0) < (d.get("pcie_gen_max") or 0)]
    if narrow:
        detail = "; ".join(f"{_name(d)} x{d['pcie_width_current']} of x{d['pcie_width_max']}" for d in narrow[:8])
        return CheckResult.make("gpu.pcie_link", "fail", f"PCIe link running narrow: {detail}", measured=False, threshold=True,
                                remediation="Lost lanes mean a bad riser/slot/seating: drain, reseat the GPU, RMA if it persists.")
    if slow:
        detail = "; ".join(f"{_name(d)} gen{d.get('pcie_gen_current')} of gen{d.get('pcie_gen_max')}" for d in slow[:8])
        return CheckResult.make("gpu.pcie_link", "warn", f"PCIe link below its top generation: {detail} (normal at idle power saving; re-check under load)",
                                measured=True, threshold=True, remediation="Re-check while the GPU is busy; a link that stays slow under load needs reseating.")
    return CheckResult.make("gpu.pcie_link", "pass", f"PCIe links at full width and generation on {len(known)} GPUs", measured=True, threshold=True)


@check("gpu.nvlink")
def gpu_nvlink(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _devices("gpu.nvlink", facts, threshold, ctx)
    if early:
        return early
    if all(d.get("mig_mode") == "Enabled" for d in devices):
        return not_applicable("gpu.nvlink", "NVLink queries are not supported in MIG mode", threshold=threshold)
    down = [d for d in devices if d.get("nvlink_links_active") == 0 and d.get("nvlink_links_total") != 0]
    partial = [d for d in devices if (d.get("nvlink_links_active") or 0) > 0 and d.get("nvlink_links_total") is not None
               and d["nvlink_links_active"] < d["nvlink_links_total"]]
    remediation = "Check nvidia-fabricmanager (NVSwitch systems), `nvidia-smi nvlink -s`, reset the GPUs; reseat/RMA the baseboard if links stay down."
    if down or partial:
        parts = [f"{_name(d)}: all links inactive" for d in down] + [
            f"{_name(d)}: {d['nvlink_links_active']} of {d['nvlink_links_total']} links active" for d in partial]
        return CheckResult.make("gpu.nvlink", "fail", "NVLink degraded: " + "; ".join(parts[:8]), measured=False, threshold=True, remediation=remediation)
    unknown = [d for d in devices if d.get("nvlink_links_total") is None and d.get("nvlink_links_active") is None
               and d.get("mig_mode") != "Enabled"]
    if unknown:
        return not_run("gpu.nvlink", f"NVLink state not reported for {_names(unknown)}", threshold=threshold, remediation=remediation)
    with_links = [d for d in devices if d.get("nvlink_links_total")]
    if with_links:
        links = sum(int(d["nvlink_links_total"]) for d in with_links)
        return CheckResult.make("gpu.nvlink", "pass", f"all {links} NVLink links active on {len(with_links)} GPUs", measured=True, threshold=True)
    return not_applicable("gpu.nvlink", "these GPUs have no NVLink (PCIe only): GPU-to-GPU traffic goes over PCIe", threshold=threshold)
