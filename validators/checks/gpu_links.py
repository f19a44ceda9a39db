"""GPU links: the PCIe link to the host and NVLink between GPUs. Pure judges over ``facts["gpu"]``.

Sources of truth:

* PCIe — ``nvidia-smi -q`` "GPU Link Info": a link trained narrower than its maximum width lost lanes
  (a seating, riser or slot fault); the *generation* drops to Gen1 on an idle GPU to save power
  (nvidia-smi's own help: "may be reduced when the GPU is not in use"), so it is judged only on a busy
  GPU. Replays are judged by their growth between the probe's two reads, as DCGM's PCIe health watch
  does (``DCGM_LIMIT_MAX_PCIREPLAY_RATE`` = 8 per minute, "the maximum recommended by RM"): a total
  of 43–82 replays since the last reset on a healthy node is history, not a fault.
* NVLink — the links a healthy GPU of its model trains are catalogue data
  (``policies/data/gpu_models.yaml``: A100 SXM4 12, H100/H200 SXM 18 …); a GPU that trained fewer,
  or shows fewer to its peers in ``nvidia-smi topo -m`` (NV17 beside NV18), has a link down, which
  DCGM's NVLink health watch fails (``DCGM_FR_NVLINK_DOWN``).
* NVLink errors — DCGM's NVLink health watch, on counter growth: replay and recovery errors fail; CRC
  errors warn, and fail at 100 per second or more (``DCGM_LIMIT_MAX_NVLINK_CRC_ERROR``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policies.thresholds import Threshold
from validators.checks import _gpu
from validators.checks.base import CheckContext, Facts, check
from validators.checks.compare import fmt, not_applicable, not_run
from validators.checks.remedy import hardware_remedy
from validators.results import CheckResult

REPLAYS_PER_MIN = 8.0  # DCGM_LIMIT_MAX_PCIREPLAY_RATE; the profile's max overrides
CRC_FAIL_PER_S = 100.0  # DCGM_LIMIT_MAX_NVLINK_CRC_ERROR


def _growth(before: Any, after: Any) -> int | None:
    """Counter growth between the two reads; None when unknown, 0 when the counter was reset between."""
    if not isinstance(before, int) or not isinstance(after, int):
        return None
    return max(0, after - before)


@check("gpu.pcie_link")
def gpu_pcie_link(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    known, early = _gpu.reporting("gpu.pcie_link", facts, threshold, ctx, "pcie_width_current", "pcie_width_max",
                                  missing="PCIe link state not reported")
    if early:
        return early
    narrow = [d for d in known if d["pcie_width_current"] < d["pcie_width_max"]]
    if narrow:
        detail = "; ".join(f"{_gpu.name(d)} x{d['pcie_width_current']} of x{d['pcie_width_max']}" for d in narrow[:8])
        return CheckResult.make("gpu.pcie_link", "fail", f"PCIe link running narrow (lanes lost): {detail}",
                                measured=False, threshold=True,
                                remediation=hardware_remedy(facts, "the GPU", metal_first="reseat the GPU and check its riser and slot"))
    window = facts["gpu"].get("sample_window_s")
    limit = threshold.max if threshold.max is not None else REPLAYS_PER_MIN
    rates = []
    for d in known:
        grew = _growth(d.get("pcie_replays"), d.get("pcie_replays_later"))
        if grew is not None and isinstance(window, (int, float)) and window > 0:
            rates.append((d, grew, grew / window * 60))
    replaying = [(d, grew, rate) for d, grew, rate in rates if rate > limit]
    slow = [d for d in known if (d.get("pcie_gen_current") or 0) < (d.get("pcie_gen_max") or 0)]
    busy_slow = [d for d in slow if (d.get("utilization_gpu_pct") or 0) > 0]
    notes = []
    totals = [d["pcie_replays"] for d in known if isinstance(d.get("pcie_replays"), int)]
    if totals:
        notes.append(f"replays since reset {min(totals)}–{max(totals)} (history; growth is judged)")
    idle_slow = [d for d in slow if d not in busy_slow]
    if idle_slow:
        notes.append(f"{_gpu.names(idle_slow)} below top PCIe generation while not busy (power saving)")
    if not rates and totals:
        notes.append("replay growth unknown (one read only)")
    tail = f"; {'; '.join(notes)}" if notes else ""
    if replaying or busy_slow:
        parts = []
        if replaying:
            parts.append("PCIe replays growing: " + "; ".join(
                f"{_gpu.name(d)} +{grew} in {fmt(window)} s ({rate:.0f}/min)" for d, grew, rate in replaying[:8])
                + f" (DCGM warns above {fmt(limit)}/min)")
        if busy_slow:
            parts.append("PCIe below top generation under load: " + "; ".join(
                f"{_gpu.name(d)} Gen{d.get('pcie_gen_current')} of Gen{d.get('pcie_gen_max')} at {d.get('utilization_gpu_pct')}% busy"
                for d in busy_slow[:8]))
        return CheckResult.make("gpu.pcie_link", "warn", "; ".join(parts) + tail, measured=False, threshold=True,
                                remediation="Re-run plinth while the GPUs are busy; if it persists: "
                                + hardware_remedy(facts, "the GPU", metal_first="reseat the GPU and check its riser"))
    return CheckResult.make("gpu.pcie_link", "pass", f"PCIe links at full width on {len(known)} GPUs{tail}",
                            measured=True, threshold=True)


def _topology_peers(facts: Facts) -> dict[int, int]:
    """GPU index -> most NVLink links it has to any one peer in ``nvidia-smi topo -m``."""
    topo = facts["gpu"].get("topology") or {}
    matrix = topo.get("nvlink") if isinstance(topo, Mapping) else None
    if not isinstance(matrix, Mapping):
        return {}
    out = {}
    for gpu, peers in matrix.items():
        counts = [int(n) for n in (peers or {}).values() if isinstance(n, int)]
        if counts:
            out[int(gpu)] = max(counts)
    return out


def _link_fix(facts: Facts, devices: Sequence[_gpu.Device]) -> str:
    model = _gpu.model_of(devices)
    fm = "check that nvidia-fabricmanager runs (NVSwitch board), " if model and model.on_nvswitch_board(len(devices)) else ""
    return hardware_remedy(facts, "the GPU baseboard", metal_first=f"{fm}reset the GPUs (`nvidia-smi -r`) and re-check `nvidia-smi nvlink -s`",
                           cloud_first=f"{fm}reset the GPUs (`nvidia-smi -r`) and re-check `nvidia-smi nvlink -s`")


@check("gpu.nvlink")
def gpu_nvlink(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _gpu.devices("gpu.nvlink", facts, threshold, ctx)
    if early:
        return early
    if all(d.get("mig_mode") == "Enabled" for d in devices):
        return not_applicable("gpu.nvlink", "NVLink queries are not supported in MIG mode", threshold=threshold)
    model = _gpu.model_of(devices)
    expected = model.nvlink_links if model else None
    topo = _topology_peers(facts)
    best_pair = max(topo.values(), default=None)
    findings = []
    for d in devices:
        total, active = d.get("nvlink_links_total"), d.get("nvlink_links_active")
        if active == 0 and total != 0:  # total None: "all links are inactive", the count unknown
            findings.append(f"{_gpu.name(d)}: all links inactive")
        elif isinstance(total, int) and isinstance(active, int) and 0 < active < total:
            findings.append(f"{_gpu.name(d)}: {active} of {total} links active")
        elif expected and isinstance(active, int) and 0 < active < expected:
            findings.append(f"{_gpu.name(d)}: {active} links active, a healthy {model.key if model else ''} trains {expected}")
        elif d.get("index") in topo and best_pair and topo[d["index"]] < best_pair and (expected is None or best_pair >= expected):
            findings.append(f"{_gpu.name(d)}: NV{topo[d['index']]} to its peers in nvidia-smi topo -m, others NV{best_pair}")
    if findings:
        want = f" (a healthy {model.key} trains {expected})" if model and expected else ""
        return CheckResult.make("gpu.nvlink", "fail", "NVLink degraded: " + "; ".join(findings[:8]) + want,
                                measured=False, threshold=True, remediation=_link_fix(facts, devices))
    reported = [d for d in devices if d.get("nvlink_links_total") is not None or d.get("index") in topo]
    if not reported:
        return not_run("gpu.nvlink", f"NVLink state not reported for {_gpu.names(devices)}", threshold=threshold,
                       remediation="Check `nvidia-smi nvlink -s` on the node.")
    linked = [d for d in devices if (d.get("nvlink_links_total") or 0) > 0 or d.get("index") in topo]
    if not linked:
        if expected:
            return CheckResult.make("gpu.nvlink", "fail", f"no NVLink on {_gpu.names(devices)}: a healthy {model.key if model else ''} "
                                    f"trains {expected} links", measured=False, threshold=True, remediation=_link_fix(facts, devices))
        return not_applicable("gpu.nvlink", "these GPUs have no NVLink (PCIe only): GPU-to-GPU traffic goes over PCIe",
                              threshold=threshold)
    links = sum(int(d.get("nvlink_links_active") or 0) for d in linked)
    basis = f"{links} links active on {len(linked)} GPUs" if links else f"NVLink between {len(linked)} GPUs in topo -m (NV{best_pair})"
    want = f", {expected} per GPU as a healthy {model.key} trains" if model and expected else ""
    return CheckResult.make("gpu.nvlink", "pass", f"NVLink healthy: {basis}{want}", measured=True, threshold=True)


@check("gpu.nvlink_errors")
def gpu_nvlink_errors(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _gpu.devices("gpu.nvlink_errors", facts, threshold, ctx)
    if early:
        return early
    window = facts["gpu"].get("sample_window_s")
    read = [d for d in devices if isinstance(d.get("nvlink_errors"), Mapping)]
    if not read:
        if all(d.get("nvlink_links_total") == 0 for d in devices) or all(d.get("mig_mode") == "Enabled" for d in devices):
            return not_applicable("gpu.nvlink_errors", "no NVLink links to count errors on", threshold=threshold)
        return not_run("gpu.nvlink_errors", "NVLink error counters not read (`nvidia-smi nvlink -e` / NVML)", threshold=threshold)
    limit = threshold.max if threshold.max is not None else 0
    fatal, crc_warn = [], []
    for d in read:
        later = d.get("nvlink_errors_later") or {}
        grew = {k: _growth(d["nvlink_errors"].get(k), later.get(k)) for k in ("replay", "recovery", "crc")}
        if (grew["replay"] or 0) + (grew["recovery"] or 0) > limit:
            fatal.append(f"{_gpu.name(d)} +{grew['replay'] or 0} replay, +{grew['recovery'] or 0} recovery")
        crc = grew["crc"] or 0
        if crc and isinstance(window, (int, float)) and window > 0 and crc / window >= CRC_FAIL_PER_S:
            fatal.append(f"{_gpu.name(d)} +{crc} CRC ({crc / window:.0f}/s)")
        elif crc:
            crc_warn.append(f"{_gpu.name(d)} +{crc} CRC")
    totals = {k: sum(int(d["nvlink_errors"].get(k) or 0) for d in read) for k in ("replay", "recovery", "crc")}
    history = f"since the last reset: {totals['replay']} replay, {totals['recovery']} recovery, {totals['crc']} CRC (history)"
    during = f"during the probe's {fmt(window)} s window" if window else "between the probe's two reads"
    if not any(d.get("nvlink_errors_later") for d in read):
        return not_run("gpu.nvlink_errors", f"NVLink error counters read once only: growth unknown; {history}", threshold=threshold)
    fix = hardware_remedy(facts, "the GPU baseboard", metal_first="reset the GPUs (`nvidia-smi -r`) and re-check `nvidia-smi nvlink -e`",
                          cloud_first="reset the GPUs (`nvidia-smi -r`) and re-check `nvidia-smi nvlink -e`")
    if fatal:
        return CheckResult.make("gpu.nvlink_errors", "fail", f"NVLink errors {during}: " + "; ".join(fatal[:8]) + f"; {history}",
                                measured=len(fatal), threshold=limit, unit=threshold.unit or "errors", remediation=fix)
    if crc_warn:
        return CheckResult.make("gpu.nvlink_errors", "warn", f"NVLink CRC errors {during}: " + "; ".join(crc_warn[:8])
                                + f" (below DCGM's {CRC_FAIL_PER_S:.0f}/s failure rate); {history}",
                                measured=len(crc_warn), threshold=limit, unit=threshold.unit or "errors",
                                remediation="Re-run plinth; if CRC errors keep growing: " + fix)
    return CheckResult.make("gpu.nvlink_errors", "pass", f"no NVLink errors {during} on {len(read)} GPUs; {history}",
                            measured=0, threshold=limit, unit=threshold.unit or "errors")
