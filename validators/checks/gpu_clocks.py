"""GPU clock event (throttle) reasons: is a GPU running slower than it should, and why.

Source of truth: NVML "Clocks Event Reasons" (https://docs.nvidia.com/deploy/nvml-api/group__nvmlClocksEventReasons.html),
the same bits ``nvidia-smi -q`` prints under "Clocks Event Reasons" ("Clocks Throttle Reasons" before
driver 535). Verdicts:

* **fail** — HW Slowdown, HW Thermal Slowdown, HW Power Brake Slowdown: hardware cuts the clocks "by a
  factor of 2 or more" (NVML) because of temperature, an external power-brake signal from the
  system (PSU/BMC) or power draw beyond what the board can deliver. The GPU runs at a fraction of
  its speed with nothing in software to undo it; gpud reports these as hardware slowdown events and
  Azure's health checks flag every reason but idle and the software power cap.
* **warn** — a hardware reason flagged on a GPU still at (90% of) its top SM clock: not slowed now
  (a brake released a moment ago, or a stale bit), re-check under load.
* **warn** — SW Thermal Slowdown: the driver holds clocks down to stay within temperature limits; the
  GPU works but cooling is marginal (DCGM's health watch warns on thermal violations).
* **pass** — GPU Idle, Applications Clocks Setting, SW Power Cap, Sync Boost, Display Clock Setting:
  the GPU doing what it was told (idle, a clock or power limit an operator set, boost groups).
  A loaded GPU at its power limit shows SW Power Cap by design.
"""

from __future__ import annotations

from policies.thresholds import Threshold
from validators.checks import _gpu
from validators.checks.base import CheckContext, Facts, check
from validators.checks.remedy import hardware_remedy
from validators.results import CheckResult

AT_TOP_CLOCK = 0.9  # of the max SM clock: "not slowed" (a hardware slowdown halves clocks or worse)
HARDWARE = ("hw_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown")
LABELS = {
    "gpu_idle": "GPU idle", "applications_clocks_setting": "applications clocks setting", "sw_power_cap": "SW power cap",
    "hw_slowdown": "HW slowdown", "hw_thermal_slowdown": "HW thermal slowdown",
    "hw_power_brake_slowdown": "HW power brake slowdown", "sync_boost": "sync boost",
    "sw_thermal_slowdown": "SW thermal slowdown", "display_clock_setting": "display clock setting",
}


def _clock(dev: _gpu.Device) -> str:
    sm, top = dev.get("clocks_sm_mhz"), dev.get("clocks_max_sm_mhz")
    return f" at {sm} of {top} MHz" if sm is not None and top else ""


def _at_top_clock(dev: _gpu.Device) -> bool:
    sm, top = dev.get("clocks_sm_mhz"), dev.get("clocks_max_sm_mhz")
    return isinstance(sm, (int, float)) and isinstance(top, (int, float)) and top > 0 and sm >= AT_TOP_CLOCK * top


@check("gpu.clock_events")
def gpu_clock_events(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    known, early = _gpu.reporting("gpu.clock_events", facts, threshold, ctx, "clock_event_reasons",
                                  missing="clock event reasons not reported (needs nvidia-smi -q, --query-gpu or NVML)")
    if early:
        return early
    flagged = [d for d in known if set(d["clock_event_reasons"]) & set(HARDWARE)]
    # a hardware slowdown cuts clocks by half or more: a GPU flagged while at its top clock is not
    # slowed now (a brake released a moment ago, or a stale bit) — say so, re-check, don't fail it
    at_top = [d for d in flagged if _at_top_clock(d)]
    slowed = [d for d in flagged if d not in at_top]
    if slowed:
        reasons = sorted({r for d in slowed for r in d["clock_event_reasons"] if r in HARDWARE}, key=HARDWARE.index)
        detail = "; ".join(f"{_gpu.name(d)}{_clock(d)}" for d in slowed[:8])
        fixes = []
        if "hw_power_brake_slowdown" in reasons:
            fixes.append("power brake: the system asserted the GPU's power-brake signal — check PSUs, power cabling and "
                         "the BMC's power events (`ipmitool sel list`)")
        if "hw_thermal_slowdown" in reasons:
            fixes.append("thermal: check fans, airflow and inlet temperature")
        first = "; ".join(fixes) or "check cooling, power supplies and the BMC's event log"
        return CheckResult.make(
            "gpu.clock_events", "fail",
            f"{', '.join(LABELS[r] for r in reasons)} active on {len(slowed)} of {len(known)} GPUs: {detail}",
            measured=len(slowed), threshold=0, unit="GPUs",
            remediation=hardware_remedy(facts, "the GPU", metal_first=first))
    if at_top:
        reasons = sorted({LABELS[r] for d in at_top for r in d["clock_event_reasons"] if r in HARDWARE})
        return CheckResult.make("gpu.clock_events", "warn",
                                f"{', '.join(reasons)} flagged on {_gpu.names(at_top)} while running at full clock "
                                f"({'; '.join(_gpu.name(d) + _clock(d) for d in at_top[:8])}): not slowed now",
                                measured=len(at_top), threshold=0, unit="GPUs",
                                remediation="Re-run plinth under load; if the flag stays, check PSUs and the BMC's power events.")
    hot = [d for d in known if "sw_thermal_slowdown" in d["clock_event_reasons"]]
    benign = sorted({r for d in known for r in d["clock_event_reasons"] if r not in HARDWARE and r != "sw_thermal_slowdown"})
    note = f" (normal: {', '.join(str(LABELS.get(r, r)) for r in benign)})" if benign else ""
    if hot:
        return CheckResult.make("gpu.clock_events", "warn",
                                f"SW thermal slowdown active on {_gpu.names(hot)}: the driver holds clocks down to stay "
                                f"within temperature limits{note}", measured=len(hot), threshold=0, unit="GPUs",
                                remediation="Check fans, airflow and inlet temperature; compare with gpu.temperature.")
    return CheckResult.make("gpu.clock_events", "pass", f"no hardware or thermal slowdown on {len(known)} GPUs{note}",
                            measured=0, threshold=0, unit="GPUs")
