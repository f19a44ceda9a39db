"""The shape of one GPU in the facts (``facts["gpu"]["devices"][i]``); every GPU reader fills it.

Every field is None when the reader could not tell (an older driver, a consumer GPU, MIG): judges
treat None as "not reported", never as healthy.
"""

from __future__ import annotations

from typing import Any, Dict, List

# nvidia-smi / NVML clock event (throttle) reasons, in NVML's bit order (nvmlClocksEventReasons)
CLOCK_EVENT_BITS = (
    (0x0001, "gpu_idle"),
    (0x0002, "applications_clocks_setting"),
    (0x0004, "sw_power_cap"),
    (0x0008, "hw_slowdown"),
    (0x0010, "sync_boost"),
    (0x0020, "sw_thermal_slowdown"),
    (0x0040, "hw_thermal_slowdown"),
    (0x0080, "hw_power_brake_slowdown"),
    (0x0100, "display_clock_setting"),
)
FABRIC_STATES = {0: "N/A", 1: "Not Started", 2: "In Progress", 3: "Completed"}  # nvmlGpuFabricState_t


def clock_event_names(mask: int) -> List[str]:
    """NVML's event-reason bit mask -> the names of the active reasons."""
    return [name for bit, name in CLOCK_EVENT_BITS if mask & bit]


def empty_device(index: int) -> Dict[str, Any]:
    return {
        "index": index, "name": None, "uuid": None, "pci": None, "memory_total_mib": None,
        "architecture": None, "vbios_version": None,
        "ecc_mode": None, "ecc_uncorrected_volatile": None, "ecc_uncorrected_aggregate": None,
        # Hopper and later (driver 535+): the SRAM uncorrectable errors passed NVIDIA's field-diag threshold
        "sram_threshold_exceeded": None,
        "retired_pages_pending": None, "retired_pages_count": None,
        "retired_pages_sbe": None, "retired_pages_dbe": None,
        "remapped_rows_failure": None, "remapped_rows_pending": None, "remapped_rows_uncorrectable": None,
        "remapped_rows_correctable": None,
        # banks by spare rows left: {"max", "high", "partial", "low", "none"}
        "remap_histogram": None,
        "temperature_c": None, "persistence_mode": None,
        "pcie_gen_current": None, "pcie_gen_max": None,
        "pcie_width_current": None, "pcie_width_max": None,
        # replays since reset, read twice per probe (gpu["sample_window_s"] apart)
        "pcie_replays": None, "pcie_replays_later": None,
        "performance_state": None, "utilization_gpu_pct": None,
        "clock_event_reasons": None,  # active reason names (CLOCK_EVENT_BITS), [] when none
        "clocks_sm_mhz": None, "clocks_max_sm_mhz": None,
        "nvlink_links_total": None, "nvlink_links_active": None,
        # summed over links, read twice like the PCIe replays: {"replay", "recovery", "crc"}
        "nvlink_errors": None, "nvlink_errors_later": None,
        "fabric_state": None, "fabric_status": None, "fabric_clique_id": None, "fabric_cluster_uuid": None,
        "mig_mode": None,
    }
