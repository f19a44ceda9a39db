"""Kernel-log judges: GPU Xid events (``gpu.xid``) and NVSwitch SXid events (``gpu.sxid``).

Only this boot's events reach the judge (the probe drops older lines of logs that span boots), and
a profile may narrow that with ``window_hours``. So the remedy plinth prints clears the failure it
prints it for: after the reboot it asks for, the old events no longer count. What each code means
and needs is NVIDIA's Xid catalogue (``policies/data/xid.yaml``): application errors warn, events
that need a GPU reset, a reboot or hands on the hardware fail, informational ones pass and are
named. Xid 63 (a row remap that succeeded) is informational: a remap still *pending* is the
row-remapping check's to judge. Xid 154 carries its own recovery action, which decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from policies.catalogue import xid_catalogue
from policies.thresholds import Threshold
from validators.checks._events import counted, window
from validators.checks.base import CheckContext, Facts, check
from validators.checks.compare import fmt, not_applicable, not_run, section_problem
from validators.checks.remedy import hardware_remedy
from validators.results import CheckResult

Event = Mapping[str, Any]
_RANK = {"pass": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True)
class Finding:
    """Events of one code that count (in the window), with what NVIDIA says to do."""

    code: int
    count: int
    meaning: str
    action: str
    status: str
    note: str
    where: list[str]


def _where(events: Sequence[Event], key: str = "pci") -> list[str]:
    out: list[str] = []
    for e in events:
        if not e.get(key):
            continue
        name = ("PCI " if key == "pci" else "") + str(e[key])
        if e.get("gpu_instance") is not None:
            name += f" GPU-I {e['gpu_instance']}"
        if name not in out:
            out.append(name)
    return out[:8]


def xid_findings(facts_xid: Mapping[str, Any], cutoff: float | None) -> list[Finding]:
    cat = xid_catalogue()
    by_code: dict[int, list[Event]] = {}
    for e in facts_xid.get("events") or []:
        if isinstance(e, Mapping) and isinstance(e.get("xid"), int):
            by_code.setdefault(e["xid"], []).append(e)
    findings = []
    for key, total in (facts_xid.get("counts") or {}).items():
        try:
            code, total = int(key), int(total)
        except (TypeError, ValueError):
            continue
        count, events = counted(by_code.get(code, []), total, cutoff)
        if not count or (cutoff is not None and not events):
            continue
        meaning, action, note = cat.xid(code)
        if code == 154:
            latest = next((e for e in reversed(events) if isinstance(e.get("recovery_action"), int)), None)
            if latest is not None:
                what, action = cat.recovery_actions.get(latest["recovery_action"], cat.unknown)
                meaning = f"{meaning}: {latest.get('recovery_text') or what}"
        findings.append(Finding(code, count, meaning, action, cat.actions[action].status, note, _where(events)))
    return sorted(findings, key=lambda f: (-_RANK[f.status], f.code))


def _remedy(action: str, facts: Facts, where: str) -> str:
    """One sentence per action, worded for the node's platform (``where``: the GPUs' PCI addresses)."""
    gpu = f"the GPU at {where}" if where else "the GPU"
    again = "If it comes back: " + hardware_remedy(facts, gpu)
    reboot = ("Drain the node and reboot it: that resets every GPU and starts a new kernel log, so the event stops "
              "counting (`nvidia-smi -r` resets one GPU, but its Xid stays in this boot's log until it leaves the "
              "profile's window_hours). ")
    if action == "RESET_GPU":
        return reboot + again
    if action == "REBOOT":
        return "Drain and reboot the node (NVIDIA: the fault may have left the OS or driver inconsistent). " + again
    if action == "HARDWARE":
        return hardware_remedy(facts, gpu, metal_first="power-cycle the node (a warm reboot may not bring the GPU back)")
    if action == "UNKNOWN":
        return ("Look the code up in NVIDIA's Xid catalogue for this driver branch and keep the node drained until it is "
                "understood (collect `nvidia-bug-report.sh`).")
    if action == "NVLINK":
        return ("Check `nvidia-smi nvlink -s` / `-e` and nvidia-fabricmanager, then reboot the node (resets the GPUs and "
                "NVSwitches). If it repeats: " + hardware_remedy(facts, "the NVLink/NVSwitch baseboard"))
    if action == "UPDATE_SWFW":
        return "Install a supported NVIDIA driver / vGPU manager pair (NVIDIA's release notes list them), then reboot."
    if action == "RESTART_APP":
        return "Restart the job; if one GPU keeps producing it under different jobs, run `dcgmi diag -r 2` on it."
    if action == "FOLLOWS":
        return "Look at the Xid logged just before it; if it appears alone, restart nvidia-fabricmanager."
    if action == "NVLINK5":
        return "Decode it with NVIDIA's Xid 144-150 table (intrinfo/error status); act on the Xid 154 that follows, if any."
    return "No action now; if it repeats on the same GPU, collect `nvidia-bug-report.sh` and contact NVIDIA support."


def _listing(findings: Sequence[Finding]) -> str:
    return "; ".join(
        f"Xid {f.code} x{f.count} ({f.meaning})" + (f" on {', '.join(f.where)}" if f.where else "")
        for f in findings)


def _readable(check_id: str, facts: Facts, threshold: Threshold) -> tuple[Mapping[str, Any] | None, CheckResult | None]:
    problem = section_problem(facts, "xid")
    if problem:
        return None, not_run(check_id, problem, threshold=threshold)
    xid = facts["xid"]
    if not xid.get("readable"):
        return None, not_applicable(check_id, xid.get("error") or "kernel log not readable without root", threshold=threshold)
    return xid, None


def _older(xid: Mapping[str, Any]) -> str:
    n = int(xid.get("before_boot") or 0)
    return f"; {n} event(s) from earlier boots in {xid.get('source')} not counted" if n else ""


@check("gpu.xid")
def gpu_xid(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    xid, early = _readable("gpu.xid", facts, threshold)
    if early or xid is None:
        return early or not_run("gpu.xid", "no kernel-log facts", threshold=threshold)
    cutoff, span = window(xid, threshold, str(xid.get("source") or "kernel log"))
    findings = xid_findings(xid, cutoff)
    unit = threshold.unit or "events"
    limit = threshold.max if threshold.max is not None else 0
    faults = [f for f in findings if f.status == "fail"]
    measured = sum(f.count for f in faults)
    info = [f for f in findings if f.status == "pass"]
    tail = (f"; informational: {_listing(info)}" if info else "") + _older(xid)
    if measured > limit:
        rest = [f for f in findings if f.status == "warn"]
        fixes = []
        for action in dict.fromkeys(f.action for f in faults + rest):
            codes = [f for f in faults + rest if f.action == action]
            notes = " ".join(f"Xid {f.code}: {f.note}." for f in codes if f.note)
            fixes.append(f"Xid {', '.join(str(f.code) for f in codes)}: {_remedy(action, facts, ', '.join(codes[0].where))}"
                         + (f" {notes}" if notes else ""))
        msg = f"{_listing(faults)} {span} (max {fmt(limit)} {unit})" + (f"; also {_listing(rest)}" if rest else "") + tail
        return CheckResult.make("gpu.xid", "fail", msg, measured=measured, threshold=limit, unit=unit, remediation=" ".join(fixes))
    warns = [f for f in findings if f.status == "warn"] + faults  # faults within a max > 0 also warn
    if warns:
        actions = dict.fromkeys(f.action for f in warns)
        return CheckResult.make(
            "gpu.xid", "warn", f"{_listing(warns)} {span}: no GPU fault that needs a reset or a reboot" + tail,
            measured=measured, threshold=limit, unit=unit,
            remediation=" ".join(f"Xid {', '.join(str(f.code) for f in warns if f.action == a)}: {_remedy(a, facts, '')}" for a in actions))
    return CheckResult.make("gpu.xid", "pass", f"no GPU fault Xid events {span}" + tail, measured=0, threshold=limit, unit=unit)


@check("gpu.sxid")
def gpu_sxid(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    xid, early = _readable("gpu.sxid", facts, threshold)
    if early or xid is None:
        return early or not_run("gpu.sxid", "no kernel-log facts", threshold=threshold)
    cutoff, span = window(xid, threshold, str(xid.get("source") or "kernel log"))
    unit = threshold.unit or "events"
    limit = threshold.max if threshold.max is not None else 0
    by_code: dict[int, list[Event]] = {}
    for e in xid.get("sxid_events") or []:
        if isinstance(e, Mapping) and isinstance(e.get("sxid"), int):
            by_code.setdefault(e["sxid"], []).append(e)
    fatal: list[tuple[int, int, list[Event]]] = []
    nonfatal: list[tuple[int, int, list[Event]]] = []
    for code, events in sorted(by_code.items()):
        count, inside = counted(events, int((xid.get("sxid_counts") or {}).get(str(code), len(events))), cutoff)
        if count:
            # a line without its severity word counts as fatal: plinth can't tell it is harmless
            (fatal if any(e.get("fatal") is not False for e in inside) else nonfatal).append((code, count, inside))
    switches = xid.get("nvswitches")

    def listing(found: Sequence[tuple[int, int, list[Event]]]) -> str:
        return "; ".join(f"SXid {code} x{n} on {', '.join(_where(evs, 'switch'))}" for code, n, evs in found)

    measured = sum(n for _, n, _ in fatal)
    if measured > limit:
        return CheckResult.make(
            "gpu.sxid", "fail", f"fatal NVSwitch errors {span}: {listing(fatal)}" + (f"; non-fatal: {listing(nonfatal)}" if nonfatal else ""),
            measured=measured, threshold=limit, unit=unit,
            remediation="A fatal SXid aborts the jobs on the GPUs behind that NVSwitch (NVIDIA Fabric Manager guide): drain the node and "
                        "reboot it to reset the GPUs and NVSwitches. If fatal SXids return: " + hardware_remedy(facts, "the NVSwitch baseboard"))
    if nonfatal or fatal:
        return CheckResult.make(
            "gpu.sxid", "warn", f"non-fatal NVSwitch errors {span}: {listing(nonfatal + fatal)} (informational: jobs keep running)",
            measured=measured, threshold=limit, unit=unit,
            remediation="Non-fatal SXids need no action; if their count climbs, check `nvidia-smi nvlink -e` and the Fabric Manager log.")
    if not switches:
        return not_applicable("gpu.sxid", "no NVSwitch on this node (no /proc/driver/nvidia-nvswitch devices) and no SXid in the kernel log",
                              threshold=threshold)
    return CheckResult.make("gpu.sxid", "pass", f"no SXid events on {switches} NVSwitches {span}", measured=0, threshold=limit, unit=unit)
