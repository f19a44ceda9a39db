"""The shape of one GPU in the facts (``facts["gpu"]["devices"][i]``); every GPU reader fills it."""

from __future__ import annotations

from typing import Any, Dict


def empty_device(index: int) -> Dict[str, Any]:
    return {
        "index": index, "name": None, "uuid": None, "pci": None, "memory_total_mib": None,
        "ecc_mode": None, "ecc_uncorrected_volatile": None, "ecc_uncorrected_aggregate": None,
        "retired_pages_pending": None, "retired_pages_count": None,
        "remapped_rows_failure": None, "remapped_rows_pending": None, "remapped_rows_uncorrectable": None,
        "temperature_c": None, "persistence_mode": None,
        "pcie_gen_current": None, "pcie_gen_max": None, "pcie_width_current": None, "pcie_width_max": None,
        "nvlink_links_total": None, "nvlink_links_active": None, "mig_mode": None,
    }


# ------------------------------------------------------------------------------------------
# parsers: nvidia-smi
