"""The NVSwitch fabric: on an NVSwitch baseboard (HGX/DGX A100, H100, H200, B200 with 8 GPUs) NVLink
works only once nvidia-fabricmanager has configured the switches and every GPU has registered with
the fabric.

Sources of truth: NVIDIA Fabric Manager user guide (https://docs.nvidia.com/datacenter/tesla/fabric-manager-user-guide/):
Fabric Manager must run on NVSwitch systems and "the Fabric Manager package version must match the
driver version"; without it CUDA initialisation fails on those GPUs while ``nvidia-smi`` looks
healthy. NVML ``nvmlDeviceGetGpuFabricInfoV`` / ``nvidia-smi -q`` "Fabric" (Hopper and later): state
Completed and status Success once a GPU is registered; on multi-node NVLink systems (GB200 NVL72)
the clique id and the cluster UUID must be set. Fabric Manager's log: "detected NVSwitch fatal
error" fails (DCGM's NVSwitch health watch fails fatal errors and warns on non-fatal ones).
"""

from __future__ import annotations

from collections.abc import Mapping

from policies.thresholds import Threshold
from validators.checks import _gpu
from validators.checks.base import CheckContext, Facts, check
from validators.checks.compare import not_applicable, not_run
from validators.checks.remedy import hardware_remedy
from validators.results import CheckResult

START_FM = ("Start nvidia-fabricmanager (same version as the driver): `sudo systemctl enable --now nvidia-fabricmanager`, "
            "installing the nvidia-fabricmanager package of exactly the driver's version if it is missing; the GPUs "
            "register with the fabric once it runs (`nvidia-smi -q` > Fabric: State Completed).")
ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def _fm_findings(fabric: Mapping, driver: str | None) -> tuple[list[str], list[str], list[str]]:
    """(failures, warnings, remediations) from Fabric Manager's process, version and log."""
    fails, warns, fixes = [], [], []
    running, systemd = fabric.get("fm_running"), fabric.get("fm_systemd")
    if running is False and systemd != "active" or running is None and systemd in ("inactive", "failed"):
        fails.append("nvidia-fabricmanager is not running" + (f" (systemd: {systemd})" if systemd else ""))
        fixes.append(START_FM)
    version = fabric.get("fm_version")
    if version and driver and version != driver:
        fails.append(f"Fabric Manager {version} does not match driver {driver}")
        fixes.append(f"Install nvidia-fabricmanager {driver} (exactly the driver's version) and restart it: "
                     "`sudo systemctl restart nvidia-fabricmanager`.")
    raw_log = fabric.get("fm_log")
    log: Mapping = raw_log if isinstance(raw_log, Mapping) else {}
    since = f" since it started {log.get('started')}" if log.get("started") else ""
    if log.get("fatal_errors"):
        fails.append(f"{log['fatal_errors']} NVSwitch fatal error(s) in {log.get('path', 'fabricmanager.log')}{since}")
    if log.get("nonfatal_errors"):
        warns.append(f"{log['nonfatal_errors']} NVSwitch non-fatal error(s) in {log.get('path', 'fabricmanager.log')}{since}")
    if log.get("other_errors"):
        warns.append(f"{log['other_errors']} other [ERROR] line(s) in {log.get('path', 'fabricmanager.log')}{since}")
    return fails, warns, fixes


@check("gpu.fabric")
def gpu_fabric(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _gpu.devices("gpu.fabric", facts, threshold, ctx)
    if early:
        return early
    gpu = facts["gpu"]
    raw = gpu.get("fabric")
    fabric: Mapping = raw if isinstance(raw, Mapping) else {}
    model = _gpu.model_of(devices)
    nvswitches = fabric.get("nvswitches")
    board = bool(nvswitches) or bool(model and model.on_nvswitch_board(len(devices)))
    multi_node = bool(model and model.multi_node_nvlink)
    # GPUs that report a fabric state sit on an NVSwitch fabric even when this node sees fewer than
    # the board's GPUs (a VM given 1 or 4 of an HGX board's 8: the host runs Fabric Manager)
    states = [d for d in devices if d.get("fabric_state") not in (None, "N/A")]
    if not board and not multi_node and not states:
        why = f"{len(devices)} x {model.key}" if model else f"{len(devices)} GPU(s), no NVSwitch on the PCI bus"
        return not_applicable("gpu.fabric", f"no NVSwitch fabric on this node ({why}): Fabric Manager not needed",
                              threshold=threshold)
    fails, warns, fixes = _fm_findings(fabric, gpu.get("driver_version")) if board and not multi_node else ([], [], [])
    unregistered = [d for d in states if d["fabric_state"] != "Completed" or (d.get("fabric_status") or "Success") != "Success"]
    if unregistered:
        fails.append("fabric registration incomplete: " + "; ".join(
            f"{_gpu.name(d)} {d['fabric_state']}/{d.get('fabric_status')}" for d in unregistered[:8]))
        fixes.append(START_FM if board and not multi_node else
                     "Check the NVLink domain's fabric services (nvidia-imex on the compute trays, Fabric Manager / NVLink "
                     "Subnet Manager on the switch trays).")
    if multi_node:
        orphan = [d for d in devices if d.get("fabric_cluster_uuid") in (None, "", ZERO_UUID) or d.get("fabric_clique_id") in (None, "")]
        if orphan:
            fails.append(f"no NVLink clique / cluster UUID on {_gpu.names(orphan)} (not part of the rack's NVLink domain)")
            fixes.append("Check the NVLink domain's fabric services (nvidia-imex, Fabric Manager on the switch trays).")
    if not fails and fabric.get("fm_running") is None and fabric.get("fm_systemd") is None and not states:
        return not_run("gpu.fabric", "cannot tell whether nvidia-fabricmanager runs (no /proc listing, no systemctl) and the "
                       "GPUs report no fabric state", threshold=threshold, remediation="Check `systemctl status nvidia-fabricmanager`.")
    where = f"{len(devices)} x {model.key}" if model else f"{len(devices)} GPUs"
    if fails:
        return CheckResult.make("gpu.fabric", "fail", f"NVSwitch fabric not ready on {where}: " + "; ".join(fails + warns),
                                measured=False, threshold=True, remediation=" ".join(dict.fromkeys(fixes)) or
                                hardware_remedy(facts, "the NVSwitch baseboard"))
    registered = f"{len(states)} GPUs registered (Completed/Success)" if states else "GPU fabric state not reported (before Hopper, or not in this output)"
    if board and not multi_node:
        fm = (f"Fabric Manager {fabric.get('fm_version') or '(version unknown)'} running" if fabric.get("fm_running")
              or fabric.get("fm_systemd") == "active" else "Fabric Manager state not reported")
    else:
        fm = "fabric managed outside this node" if not multi_node else "NVLink domain services"
    if warns:
        return CheckResult.make("gpu.fabric", "warn", f"{fm}, {registered}; " + "; ".join(warns), measured=True, threshold=True,
                                remediation="Read the quoted Fabric Manager log lines; if NVSwitch errors keep coming: "
                                + hardware_remedy(facts, "the NVSwitch baseboard"))
    return CheckResult.make("gpu.fabric", "pass", f"NVSwitch fabric ready on {where}: {fm}, {registered}",
                            measured=True, threshold=True)
