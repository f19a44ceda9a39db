"""GPU device-health judges (memory, clocks, links, fabric) on real recorded outputs, each with
the verdict an operator who knows NVIDIA's documentation, DCGM and the anchors would give, and why."""

from __future__ import annotations

from typing import Any

import pytest

from policies.thresholds import Profile, Threshold, get_profile
from tests.checks.facts import (
    H100_8,
    H200_5,
    MIG_TEXT,
    RETIRED_BAD,
    RETIRED_OK,
    RTX4090,
    TITAN_V,
    ctx,
    edit,
    gpu_facts,
)
from tests.probe.helpers import fixture_text
from validators.checks import gpu_clocks, gpu_fabric, gpu_links, gpu_memory
from validators.checks.base import judge_node
from validators.probe.gather._device import empty_device
from validators.probe.gather._smi import parse_nvidia_smi_text
from validators.probe.parsers import parse_nvlink_status, parse_topo_matrix

H100_8_OK = "nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-8gpu_drv535.183.01.txt"
FM_DOWN = "nvidia-smi/nvidia-smi_default-table_8x-h100-80gb-hbm3_drv560.35.03_persistence-off_fabricmanager-down-node.txt"
SW_POWER_CAP = "nvidia-smi/nvidia-smi-query-gpu_throttle-reasons_csv_2x-rtx-pro-6000-blackwell_sw-power-cap-active.csv"
A100_LINKS = "nvlink/nvidia-smi-nvlink-status_a100-sxm4-80gb-8gpu.txt"
A100_GPU6_DOWN = "nvlink/nvidia-smi-nvlink-s-i6_a100-sxm4-80gb_all-links-inactive.txt"
NV17 = "topo/nvidia-smi-topo-m_h100-8gpu_NV18-pairs_one-pair-NV17_sglang-issue-3780.txt"
PROFILE = get_profile("distributed_training")


def th(check_id: str) -> Threshold:
    return PROFILE.thresholds[check_id]


# -- gpu.ecc_errors: volatile is judged, lifetime is reported ---------------------------------------

def test_ecc_clean_h100() -> None:
    r = gpu_memory.gpu_ecc_errors(gpu_facts(H100_8_OK), th("gpu.ecc_errors"), ctx())
    assert (r.status, r.measured) == ("pass", 0) and "none in their lifetime either" in r.message


def test_ecc_old_error_healed_by_row_remapping_passes() -> None:
    """One uncorrectable error long ago, its row remapped, the GPU reset since: the aggregate keeps
    it forever, the volatile counter is 0. NVIDIA's answer is "healed"; failing it would print a
    remedy (reset) that can never clear it."""
    healed = edit(gpu_facts(H100_8_OK), d3={"ecc_uncorrected_aggregate": 1, "remapped_rows_uncorrectable": 1})
    r = gpu_memory.gpu_ecc_errors(healed, th("gpu.ecc_errors"), ctx())
    assert r.status == "pass" and "GPU 3 (00000000:86:00.0) 1" in r.message and "lifetime" in r.message
    assert gpu_memory.gpu_row_remapping(healed, th("gpu.row_remapping"), ctx()).status == "pass"


def test_ecc_volatile_error_fails_with_a_remedy_that_clears_it() -> None:
    bad = edit(gpu_facts(H100_8_OK), d6={"ecc_uncorrected_volatile": 2, "ecc_uncorrected_aggregate": 2})
    r = gpu_memory.gpu_ecc_errors(bad, th("gpu.ecc_errors"), ctx())
    assert r.status == "fail" and r.measured == 2 and "GPU 6 (00000000:B9:00.0) 2" in r.message and "GPU 1 " not in r.message
    assert "nvidia-smi -r" in (r.remediation or "") and "volatile counter clears" in (r.remediation or "")


def test_sram_threshold_exceeded_fails_whatever_the_counters_say() -> None:
    """The real 8x H100 capture (driver 535.161.08) with GPU 5's "SRAM Threshold Exceeded" turned to
    Yes, every counter left at 0: the driver says the SRAM passed NVIDIA's field-diagnostic limit
    (NVIDIA Xid catalogue, WORKFLOW_XID_48: run the field diagnostic, RMA if it persists). A reset
    clears nothing here, so the remedy is the field diagnostic, not `nvidia-smi -r`."""
    text = fixture_text("nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-8gpu_drv535.161.08.txt")
    marker = "SRAM Threshold Exceeded       : No"
    assert text.count(marker) == 8
    at = [i for i in range(len(text)) if text.startswith(marker, i)][5]
    parsed = parse_nvidia_smi_text(text[:at] + marker[:-2] + "Yes" + text[at + len(marker):])
    assert [d["sram_threshold_exceeded"] for d in parsed["devices"]] == [False] * 5 + [True] + [False] * 2
    assert all(d["ecc_uncorrected_volatile"] == 0 and d["ecc_uncorrected_aggregate"] == 0 for d in parsed["devices"])
    worn = {"gpu": dict(parsed, error=None, incomplete=None)}
    r = gpu_memory.gpu_ecc_errors(worn, th("gpu.ecc_errors"), ctx())
    assert r.status == "fail" and "SRAM Threshold Exceeded" in r.message and parsed["devices"][5]["pci"] in r.message
    assert "field diagnostic" in (r.remediation or "") and "nvidia-smi -r" not in (r.remediation or "")
    # a MIG GPU whose volatile counters read 0 (driver 590) fails on the flag too; one whose counters the
    # driver hides under MIG (skip: counted per GPU instance) does not hide the lifetime flag
    assert gpu_memory.gpu_ecc_errors(gpu_facts(MIG_TEXT), th("gpu.ecc_errors"), ctx()).status == "pass"
    mig = edit(gpu_facts(MIG_TEXT), d0={"sram_threshold_exceeded": True})
    assert gpu_memory.gpu_ecc_errors(mig, th("gpu.ecc_errors"), ctx()).status == "fail"
    hidden = edit(mig, d0={"ecc_uncorrected_volatile": None})
    assert gpu_memory.gpu_ecc_errors(edit(hidden, d0={"sram_threshold_exceeded": False}), th("gpu.ecc_errors"), ctx()).status == "skip"
    assert gpu_memory.gpu_ecc_errors(hidden, th("gpu.ecc_errors"), ctx()).status == "fail"


def test_ecc_consumer_and_partial_disable() -> None:
    assert gpu_memory.gpu_ecc_errors(gpu_facts(RTX4090), th("gpu.ecc_errors"), ctx()).status == "skip"  # GeForce: ECC off
    r = gpu_memory.gpu_ecc_errors(edit(gpu_facts(H100_8_OK), d4={"ecc_mode": "Disabled"}), th("gpu.ecc_errors"), ctx())
    assert r.status == "warn" and "ECC disabled on GPU 4" in r.message


# -- gpu.retired_pages (before Ampere) ----------------------------------------------------------------

def test_retirement_table_full_is_replace_not_reset_and_names_gpu_0() -> None:
    """Azure's hand-edited capture: GPUs 0, 1, 5, 7 hold 65, 63, 65, 64 retired pages — at DCGM's
    limit of 63 (NVIDIA's table holds 64): they cannot heal any more and must be replaced, whether a
    retirement is pending (1, 5, 7) or not (0). GPU 3 (6 pages, pending) only needs a reset."""
    r = gpu_memory.gpu_retired_pages(gpu_facts(RETIRED_BAD), th("gpu.retired_pages"), ctx())
    assert r.status == "fail" and r.measured == 65
    full = "GPU 0 (00000001:00:00.0) 65, GPU 1 (00000002:00:00.0) 63, GPU 5 (00000006:00:00.0) 65, GPU 7 (00000008:00:00.0) 64"
    assert f"retirement table full (more than 62 of the 64 pages retired) on {full}" in r.message
    assert "page retirement pending on GPU 3 (00000004:00:00.0)" in r.message and "pending on GPU 1" not in r.message
    fix = r.remediation or ""
    assert fix.startswith("Replace GPU 0 (00000001:00:00.0), GPU 1") and "reset the GPU" in fix and "GPU 3 (00000004:00:00.0)" in fix


def test_retired_pages_heal_pre_ampere_gpus() -> None:
    """Retiring pages is how a V100 keeps working: a dozen retired pages, none pending, pass."""
    assert gpu_memory.gpu_retired_pages(gpu_facts(RETIRED_OK), th("gpu.retired_pages"), ctx()).status == "pass"
    some = edit(gpu_facts(RETIRED_OK), d3={"retired_pages_count": 12, "retired_pages_sbe": 10, "retired_pages_dbe": 2})
    r = gpu_memory.gpu_retired_pages(some, th("gpu.retired_pages"), ctx())
    assert r.status == "pass" and "GPU 3 (00000004:00:00.0) 12" in r.message
    soft = edit(gpu_facts(RETIRED_OK), d2={"retired_pages_count": 20, "retired_pages_dbe": 16})
    assert gpu_memory.gpu_retired_pages(soft, th("gpu.retired_pages"), ctx()).status == "warn"  # DCGM's soft limit (15 DBE)


def test_retired_pages_not_applicable_on_ampere_and_later() -> None:
    r = gpu_memory.gpu_retired_pages(gpu_facts(H100_8_OK), th("gpu.retired_pages"), ctx())
    assert r.status == "skip" and "gpu.row_remapping" in r.message


# -- gpu.row_remapping (Ampere and later) --------------------------------------------------------------

def test_row_remapping_pending_failure_and_exhausted_banks() -> None:
    facts = gpu_facts(H100_8_OK)
    assert gpu_memory.gpu_row_remapping(facts, th("gpu.row_remapping"), ctx()).status == "pass"
    pending = gpu_memory.gpu_row_remapping(edit(facts, d5={"remapped_rows_pending": True}), th("gpu.row_remapping"), ctx())
    assert pending.status == "fail" and "row remap pending on GPU 5" in pending.message and "reset the GPU" in (pending.remediation or "")
    # GPU 0 must be named: index 0 is a GPU, not "no GPU"
    failed = gpu_memory.gpu_row_remapping(edit(facts, d0={"remapped_rows_failure": True}), th("gpu.row_remapping"), ctx())
    assert failed.status == "fail" and "row remapping failed on GPU 0 (00000000:53:00.0)" in failed.message
    assert (failed.remediation or "").startswith("Replace GPU 0")
    none_left = edit(facts, d1={"remap_histogram": {"max": 2550, "high": 6, "partial": 2, "low": 1, "none": 1}})
    warn = gpu_memory.gpu_row_remapping(none_left, th("gpu.row_remapping"), ctx())
    assert warn.status == "warn" and "GPU 1 (00000000:64:00.0) 1" in warn.message


def test_row_remapping_not_applicable_before_ampere_and_unknown_under_mig() -> None:
    assert gpu_memory.gpu_row_remapping(gpu_facts(RETIRED_OK), th("gpu.row_remapping"), ctx()).status == "skip"
    assert gpu_memory.gpu_row_remapping(gpu_facts(MIG_TEXT), th("gpu.row_remapping"), ctx()).status == "skip"


# -- gpu.clock_events -------------------------------------------------------------------------------

def test_hw_power_brake_slowdown_on_every_gpu_fails() -> None:
    """535.161.08 capture: HW Slowdown with HW Power Brake Slowdown active on all 8 H100s, SM clock
    86 of 1980 MHz, GPUs not idle. NVML: the board's power-brake input cut the clocks by half or
    more — the node runs at a twentieth of its speed. Before: plinth passed it."""
    r = gpu_clocks.gpu_clock_events(gpu_facts(H100_8), th("gpu.clock_events"), ctx())
    assert r.status == "fail" and r.measured == 8
    assert r.message.startswith("HW slowdown, HW power brake slowdown active on 8 of 8 GPUs: GPU 0 (00000000:19:00.0) at 86 of 1980 MHz")
    assert "power-brake signal" in (r.remediation or "") and "ipmitool sel list" in (r.remediation or "")


def test_a_flag_at_full_clock_warns_instead_of_failing() -> None:
    """535.183.01 capture: GPU 2 flags power brake, SW power cap and SW thermal while its SM runs at
    1980 of 1980 MHz. A hardware slowdown halves clocks or worse: this GPU is not slowed now (a
    release moments ago or a stale bit). Re-check, don't drain."""
    r = gpu_clocks.gpu_clock_events(gpu_facts(H100_8_OK), th("gpu.clock_events"), ctx())
    assert r.status == "warn" and "GPU 2 (00000000:75:00.0)" in r.message and "1980 of 1980 MHz" in r.message


def test_sw_power_cap_is_not_a_fault() -> None:
    """RTX PRO 6000 capture: SW Power Cap active on both GPUs — clocks held at the power limit the
    operator set, by design. Must not fail (Azure's checks accept it too)."""
    r = gpu_clocks.gpu_clock_events(gpu_facts(SW_POWER_CAP), th("gpu.clock_events"), ctx())
    assert r.status == "pass" and "SW power cap" in r.message


def test_idle_passes_sw_thermal_warns_and_hw_thermal_fails() -> None:
    idle = gpu_facts(H200_5)  # Idle active on all five
    assert gpu_clocks.gpu_clock_events(idle, th("gpu.clock_events"), ctx()).status == "pass"
    hot = edit(idle, d1={"clock_event_reasons": ["sw_thermal_slowdown"]})
    assert gpu_clocks.gpu_clock_events(hot, th("gpu.clock_events"), ctx()).status == "warn"
    thermal = edit(idle, d4={"clock_event_reasons": ["hw_slowdown", "hw_thermal_slowdown"], "clocks_sm_mhz": 705})
    r = gpu_clocks.gpu_clock_events(thermal, th("gpu.clock_events"), ctx())
    assert r.status == "fail" and "HW thermal slowdown" in r.message and "airflow" in (r.remediation or "")


def test_clock_reasons_missing_is_an_error() -> None:
    assert gpu_clocks.gpu_clock_events(gpu_facts(RETIRED_OK), th("gpu.clock_events"), ctx()).status == "error"


# -- gpu.pcie_link -----------------------------------------------------------------------------------

def test_pcie_replay_history_is_not_a_fault_but_growth_is() -> None:
    """535.161.08: 43–82 replays since reset on every GPU, x16 Gen5 — history on a healthy link.
    The same counter growing by 30 within a 2 s probe window is 900/min, over DCGM's 8/min."""
    facts = gpu_facts(H100_8)
    r = gpu_links.gpu_pcie_link(facts, th("gpu.pcie_link"), ctx())
    assert r.status == "pass" and "replays since reset 43–82" in r.message
    for d in facts["gpu"]["devices"]:
        d["pcie_replays_later"] = d["pcie_replays"]
    facts["gpu"]["sample_window_s"] = 2.0
    assert gpu_links.gpu_pcie_link(facts, th("gpu.pcie_link"), ctx()).status == "pass"
    facts["gpu"]["devices"][4]["pcie_replays_later"] += 30
    grew = gpu_links.gpu_pcie_link(facts, th("gpu.pcie_link"), ctx())
    assert grew.status == "warn" and "GPU 4 (00000000:9B:00.0) +30 in 2 s (900/min)" in grew.message


def test_pcie_width_and_generation() -> None:
    narrow = gpu_links.gpu_pcie_link(edit(gpu_facts(H100_8_OK), d1={"pcie_width_current": 8}), th("gpu.pcie_link"), ctx())
    assert narrow.status == "fail" and "GPU 1 (00000000:64:00.0) x8 of x16" in narrow.message
    idle = gpu_links.gpu_pcie_link(gpu_facts(TITAN_V), th("gpu.pcie_link"), ctx())  # Gen1 of Gen3, idle: power saving
    assert idle.status == "pass" and "power saving" in idle.message
    busy = edit(gpu_facts(TITAN_V), d0={"utilization_gpu_pct": 97})
    assert gpu_links.gpu_pcie_link(busy, th("gpu.pcie_link"), ctx()).status == "warn"


# -- gpu.nvlink --------------------------------------------------------------------------------------

def _a100_node(*overrides: str) -> dict[str, Any]:
    """8 x A100-SXM4-80GB known from `nvidia-smi nvlink --status` (no -q capture of that node exists);
    ``overrides``: single-GPU `nvlink -s -i N` captures that replace GPU N's entry."""
    links = parse_nvlink_status(fixture_text(A100_LINKS))
    for rel in overrides:
        links.update(parse_nvlink_status(fixture_text(rel)))
    devices = []
    for i in sorted(links):
        dev = empty_device(i)
        dev.update(name="NVIDIA A100-SXM4-80GB", pci=f"GPU-{i}", nvlink_links_total=links[i]["total"],
                   nvlink_links_active=links[i]["active"], mig_mode="Disabled")
        devices.append(dev)
    return {"probe_version": 1, "errors": {}, "system": {"platform": {"kind": "unknown"}},
            "gpu": {"source": "nvidia-smi-text", "error": None, "notes": [], "devices": devices}}


def test_nvlink_healthy_h200_and_a100() -> None:
    ok = gpu_links.gpu_nvlink(gpu_facts(H200_5, nvlink="nvlink/nvidia-smi-nvlink-status_h200-sxm-5gpu_18links.txt"),
                              th("gpu.nvlink"), ctx())
    assert ok.status == "pass" and "90 links active on 5 GPUs, 18 per GPU as a healthy H200-SXM trains" in ok.message
    a100 = gpu_links.gpu_nvlink(_a100_node(), th("gpu.nvlink"), ctx())
    assert a100.status == "pass" and "96 links active on 8 GPUs, 12 per GPU" in a100.message


def test_nvlink_all_links_inactive_on_one_a100_fails() -> None:
    """Azure's bad_nvlink_status: GPU 6 "Unable to retrieve NVLink information as all links are
    inactive" on an 8-GPU NVSwitch board: GPU 6 cannot reach its peers over NVLink."""
    r = gpu_links.gpu_nvlink(_a100_node(A100_GPU6_DOWN), th("gpu.nvlink"), ctx())
    assert r.status == "fail" and "GPU 6 (GPU-6): all links inactive" in r.message
    assert "nvidia-fabricmanager" in (r.remediation or "")  # an 8 x A100 SXM4 board has NVSwitches


def test_nvlink_17_of_18_fails() -> None:
    one_short = gpu_facts(H200_5, nvlink="nvlink/nvidia-smi-nvlink-status_h200-sxm-5gpu_18links.txt")
    one_short = edit(one_short, d3={"nvlink_links_total": 17, "nvlink_links_active": 17})  # one link never trained
    r = gpu_links.gpu_nvlink(one_short, th("gpu.nvlink"), ctx())
    assert r.status == "fail" and "GPU 3 (00000000:C3:00.0): 17 links active, a healthy H200-SXM trains 18" in r.message


def test_nvlink_topology_nv17_pair_fails_and_nv18_everywhere_passes() -> None:
    """sglang issue: 8 x H100 in NVLinked pairs, GPU2–GPU3 at NV17 where every other pair shows
    NV18: one of their 18 links is down. The NV18-everywhere captures are healthy."""
    degraded = gpu_facts(H100_8_OK, topo=NV17)
    r = gpu_links.gpu_nvlink(degraded, th("gpu.nvlink"), ctx())
    assert r.status == "fail" and "GPU 2 (00000000:75:00.0): NV17" in r.message and "GPU 3 (00000000:86:00.0): NV17" in r.message
    assert "GPU 0" not in r.message
    for topo in ("topo/nvidia-smi-topo-m_h100-80gb-hbm3-8gpu_NV18_9nic_vllm-issue-9176.txt",
                 "topo/nvidia-smi-topo-m_h100-80gb-hbm3-8gpu_NV18_12nic_8numa_vllm-issue-14897.txt",
                 "topo/nvidia-smi-topo-m_h100-sxm-8gpu-NV18_tabs-as-spaces.txt"):
        assert gpu_links.gpu_nvlink(gpu_facts(H100_8_OK, topo=topo), th("gpu.nvlink"), ctx()).status == "pass", topo


def test_nvlink_a100_nv12_topology_passes_and_pcie_only_skips() -> None:
    a100 = _a100_node()
    for d in a100["gpu"]["devices"]:
        d["nvlink_links_total"] = d["nvlink_links_active"] = None  # nvlink -s unavailable: topo -m alone
    matrix = parse_topo_matrix(fixture_text("topo/nvidia-smi-topo-m_a100-sxm4-40gb-8gpu_NV12_10nic_vllm-issue-6199.txt"))
    a100["gpu"]["topology"] = {"nvlink": {str(g): {str(p): n for p, n in peers.items()} for g, peers in matrix.items()}}
    r = gpu_links.gpu_nvlink(a100, th("gpu.nvlink"), ctx())
    assert r.status == "pass" and "NV12" in r.message
    pcie = edit(gpu_facts(RTX4090, topo="topo/nvidia-smi-topo-m_8gpu-pcie-SYS-only_2numa.txt"),
                **{f"d{i}": {"nvlink_links_total": 0, "nvlink_links_active": 0} for i in range(8)})
    assert gpu_links.gpu_nvlink(pcie, th("gpu.nvlink"), ctx()).status == "skip"
    assert gpu_links.gpu_nvlink(gpu_facts(MIG_TEXT), th("gpu.nvlink"), ctx()).status == "skip"
    assert gpu_links.gpu_nvlink(gpu_facts(H100_8_OK), th("gpu.nvlink"), ctx()).status == "error"  # nothing recorded


# -- gpu.nvlink_errors -------------------------------------------------------------------------------

def test_nvlink_error_growth() -> None:
    facts = gpu_facts(H200_5, nvlink="nvlink/nvidia-smi-nvlink-status_h200-sxm-5gpu_18links.txt")
    facts["gpu"]["sample_window_s"] = 2.0
    for d in facts["gpu"]["devices"]:
        d["nvlink_errors"] = {"replay": 4, "recovery": 0, "crc": 120}
        d["nvlink_errors_later"] = dict(d["nvlink_errors"])
    quiet = gpu_links.gpu_nvlink_errors(facts, th("gpu.nvlink_errors"), ctx())
    assert quiet.status == "pass" and "20 replay, 0 recovery, 600 CRC (history)" in quiet.message  # totals are history
    facts["gpu"]["devices"][1]["nvlink_errors_later"]["crc"] += 10
    assert gpu_links.gpu_nvlink_errors(facts, th("gpu.nvlink_errors"), ctx()).status == "warn"  # DCGM: CRC below 100/s warns
    facts["gpu"]["devices"][2]["nvlink_errors_later"]["recovery"] += 1
    r = gpu_links.gpu_nvlink_errors(facts, th("gpu.nvlink_errors"), ctx())
    assert r.status == "fail" and "GPU 2 (00000000:A3:00.0) +0 replay, +1 recovery" in r.message  # DCGM: recovery fails


# -- gpu.fabric --------------------------------------------------------------------------------------

def test_fabric_manager_down_node_fails_on_the_fabric_with_the_right_remedy() -> None:
    """nccl-tests issue 264: 8 x H100 80GB HBM3 (an HGX board: NVSwitches), driver 560.35.03,
    nvidia-fabricmanager not running, persistence off. nvidia-smi's table looks healthy, CUDA fails.
    Before: plinth passed every GPU check but persistence, whose remedy would not have fixed CUDA.
    The table does not show Fabric Manager: the fabric facts below are what the probe reads on that
    node (`systemctl is-active nvidia-fabricmanager` answers inactive)."""
    facts = gpu_facts(FM_DOWN, fabric={"nvswitches": None, "fm_running": None, "fm_systemd": "inactive", "fm_version": None,
                                       "fm_log": None, "notes": []})
    results = {r.id: r for r in judge_node(facts, ctx(PROFILE, expect={"gpus": 8, "gpu_model": "H100"}))}
    fabric = results["gpu.fabric"]
    assert fabric.status == "fail" and "nvidia-fabricmanager is not running (systemd: inactive)" in fabric.message
    assert (fabric.remediation or "").startswith("Start nvidia-fabricmanager (same version as the driver)")
    persistence = results["gpu.persistence_mode"]
    assert persistence.status == "fail" and "systemctl enable --now nvidia-persistenced" in (persistence.remediation or "")
    assert {k for k, r in results.items() if r.status == "fail"} == {"gpu.fabric", "gpu.persistence_mode"}


def test_fabric_version_mismatch_and_log_errors() -> None:
    log = {"path": "/var/log/fabricmanager.log", "version": "535.161.08", "started": "Dec 19 2024 22:08:53",
           "nonfatal_errors": 0, "fatal_errors": 0, "other_errors": 0, "errors_before_start": 18, "error_lines": []}
    fabric = {"nvswitches": 4, "fm_running": True, "fm_systemd": "active", "fm_version": "535.161.08", "fm_log": log, "notes": []}
    ok = gpu_fabric.gpu_fabric(gpu_facts(H100_8, fabric=fabric), th("gpu.fabric"), ctx())  # driver 535.161.08
    assert ok.status == "pass" and "Fabric Manager 535.161.08 running, 8 GPUs registered" in ok.message
    other = gpu_fabric.gpu_fabric(gpu_facts(H100_8_OK, fabric=fabric), th("gpu.fabric"), ctx())  # driver 535.183.01
    assert other.status == "fail" and "Fabric Manager 535.161.08 does not match driver 535.183.01" in other.message
    noisy = gpu_fabric.gpu_fabric(gpu_facts(H100_8, fabric={**fabric, "fm_log": {**log, "nonfatal_errors": 1}}), th("gpu.fabric"), ctx())
    assert noisy.status == "warn" and "1 NVSwitch non-fatal error(s)" in noisy.message
    fatal = gpu_fabric.gpu_fabric(gpu_facts(H100_8, fabric={**fabric, "fm_log": {**log, "fatal_errors": 2}}), th("gpu.fabric"), ctx())
    assert fatal.status == "fail"


def test_fabric_registration_and_where_it_does_not_apply() -> None:
    stuck = edit(gpu_facts(H100_8_OK), d5={"fabric_state": "In Progress", "fabric_status": "N/A"})
    r = gpu_fabric.gpu_fabric(stuck, th("gpu.fabric"), ctx())
    assert r.status == "fail" and "GPU 5 (00000000:A8:00.0) In Progress" in r.message
    vm = gpu_fabric.gpu_fabric(gpu_facts("nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-1gpu-vm_drv590.48.01_idle.txt"), th("gpu.fabric"), ctx())
    assert vm.status == "pass" and "managed outside this node" in vm.message  # 1 GPU of an HGX board given to a VM
    assert gpu_fabric.gpu_fabric(gpu_facts(RTX4090), th("gpu.fabric"), ctx()).status == "skip"
    assert gpu_fabric.gpu_fabric(gpu_facts(TITAN_V), th("gpu.fabric"), ctx()).status == "skip"


def test_multi_node_nvlink_needs_a_cluster_uuid() -> None:
    gb200 = edit(gpu_facts(H200_5), **{f"d{i}": {"name": "NVIDIA GB200"} for i in range(5)})
    r = gpu_fabric.gpu_fabric(gb200, th("gpu.fabric"), ctx())  # the H200 capture's zero cluster UUID
    assert r.status == "fail" and "cluster UUID" in r.message


@pytest.mark.parametrize("check_id", ["gpu.ecc_errors", "gpu.row_remapping", "gpu.clock_events", "gpu.pcie_link",
                                      "gpu.nvlink", "gpu.nvlink_errors", "gpu.fabric"])
def test_cut_off_output_is_an_error_never_a_pass(check_id: str) -> None:
    facts = gpu_facts(H100_8_OK)
    facts["gpu"]["incomplete"] = "nvidia-smi-text reported 8 attached GPUs but described 3 (output cut off?)"
    del facts["gpu"]["devices"][3:]
    [r] = judge_node(facts, ctx(Profile(name="t", description="t", thresholds={check_id: th(check_id)})))
    assert r.status == "error" and "cut off" in r.message


def test_fabric_manager_logs_judged() -> None:
    """HGX log: 18 NVSwitch non-fatal 12028 errors, then two clean restarts of Fabric Manager 535.161.08
    (the driver's version on the 535.161.08 node): history, the fabric is ready. gpud's excerpt: one
    non-fatal 12028 and no restart after it — DCGM warns on NVSwitch non-fatal errors."""
    from validators.probe.parsers import parse_fabricmanager_log

    def fabric(rel: str) -> dict[str, Any]:
        log = dict(parse_fabricmanager_log(fixture_text(rel)), path="/var/log/fabricmanager.log")
        return {"nvswitches": 4, "fm_running": True, "fm_systemd": "active", "fm_version": log["version"], "fm_log": log, "notes": []}

    restarted = gpu_fabric.gpu_fabric(gpu_facts(H100_8, fabric=fabric("fabricmanager/fabricmanager.log_hgx-8gpu_nvswitch-nonfatal-12028.txt")),
                                      th("gpu.fabric"), ctx())
    assert restarted.status == "pass" and "Fabric Manager 535.161.08 running" in restarted.message
    current = gpu_fabric.gpu_fabric(gpu_facts(H100_8, fabric=fabric("fabricmanager/fabricmanager.log_gpud-testdata.txt")),
                                    th("gpu.fabric"), ctx())
    assert current.status == "warn" and "1 NVSwitch non-fatal error(s)" in current.message
