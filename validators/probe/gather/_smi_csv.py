"""Parser for ``nvidia-smi --query-gpu=… --format=csv`` (any field list, with or without units; the
header names the fields, so recorded captures with other field lists parse too). The probe asks for
:data:`QUERY_FIELDS` when ``-q -x`` and ``-q`` are unusable. Pure."""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._device import clock_event_names, empty_device
from ._util import is_na, text_or_none, to_bool, to_float, to_int

# fields every driver since 470 answers (an unknown field fails the whole query)
QUERY_FIELDS = ("index,name,uuid,pci.bus_id,driver_version,vbios_version,persistence_mode,pstate,temperature.gpu,"
                "memory.total,utilization.gpu,ecc.mode.current,ecc.errors.uncorrected.volatile.total,"
                "ecc.errors.uncorrected.aggregate.total,pcie.link.gen.current,pcie.link.gen.max,pcie.link.width.current,"
                "pcie.link.width.max,clocks_throttle_reasons.active,clocks.sm,clocks.max.sm,mig.mode.current")

_hex_mask: Callable[[Optional[str]], Optional[int]] = lambda v: int(v, 16) if v and re.match(r"^0x[0-9a-fA-F]+$", v) else None

# CSV column (units stripped) -> (device field, converter)
COLUMNS: Dict[str, Tuple[str, Callable[[Optional[str]], Any]]] = {
    "name": ("name", text_or_none), "uuid": ("uuid", text_or_none), "pci.bus_id": ("pci", text_or_none),
    "vbios_version": ("vbios_version", text_or_none), "persistence_mode": ("persistence_mode", to_bool),
    "pstate": ("performance_state", text_or_none), "temperature.gpu": ("temperature_c", to_float),
    "memory.total": ("memory_total_mib", to_int), "utilization.gpu": ("utilization_gpu_pct", to_int),
    "ecc.mode.current": ("ecc_mode", text_or_none),
    "ecc.errors.uncorrected.volatile.total": ("ecc_uncorrected_volatile", to_int),
    "ecc.errors.uncorrected.aggregate.total": ("ecc_uncorrected_aggregate", to_int),
    "ecc.errors.uncorrected.aggregate.sram.thresholdExceeded": ("sram_threshold_exceeded", to_bool),
    "retired_pages.single_bit_ecc.count": ("retired_pages_sbe", to_int), "retired_pages.sbe": ("retired_pages_sbe", to_int),
    "retired_pages.double_bit.count": ("retired_pages_dbe", to_int), "retired_pages.dbe": ("retired_pages_dbe", to_int),
    "retired_pages.pending": ("retired_pages_pending", to_bool),
    "remapped_rows.correctable": ("remapped_rows_correctable", to_int),
    "remapped_rows.uncorrectable": ("remapped_rows_uncorrectable", to_int),
    "remapped_rows.pending": ("remapped_rows_pending", to_bool), "remapped_rows.failure": ("remapped_rows_failure", to_bool),
    "pcie.link.gen.current": ("pcie_gen_current", to_int), "pcie.link.gen.gpucurrent": ("pcie_gen_current", to_int),
    "pcie.link.gen.max": ("pcie_gen_max", to_int), "pcie.link.width.current": ("pcie_width_current", to_int),
    "pcie.link.width.max": ("pcie_width_max", to_int),
    "clocks.sm": ("clocks_sm_mhz", to_int), "clocks.current.sm": ("clocks_sm_mhz", to_int),
    "clocks.max.sm": ("clocks_max_sm_mhz", to_int),
    "fabric.state": ("fabric_state", text_or_none), "fabric.status": ("fabric_status", text_or_none),
    "fabric.cliqueId": ("fabric_clique_id", text_or_none), "fabric.clusterUuid": ("fabric_cluster_uuid", text_or_none),
    "mig.mode.current": ("mig_mode", text_or_none),
}
REASON_COLUMNS = {  # one column per reason, when asked for individually
    "gpu_idle": "gpu_idle", "applications_clocks_setting": "applications_clocks_setting", "sw_power_cap": "sw_power_cap",
    "hw_slowdown": "hw_slowdown", "hw_thermal_slowdown": "hw_thermal_slowdown",
    "hw_power_brake_slowdown": "hw_power_brake_slowdown", "sw_thermal_slowdown": "sw_thermal_slowdown",
    "sync_boost": "sync_boost", "display_clock_setting": "display_clock_setting",
}


def _column(header: str) -> str:
    name = re.sub(r"\s*\[[^\]]*\]\s*$", "", header.strip())  # "memory.total [MiB]" -> "memory.total"
    return re.sub(r"^clocks_(?:event|throttle)_reasons\.", "clocks_event_reasons.", name)


def parse_query_gpu_csv(text: str) -> Dict[str, Any]:
    """`nvidia-smi --query-gpu=… --format=csv` -> {driver_version, cuda_version (never in the CSV),
    attached_gpus (None), devices}. The driver echoes the new ``clocks_event_reasons.*`` names even when
    ``clocks_throttle_reasons.*`` was asked for; both are read. Raises ValueError without a header row."""
    import csv

    rows = [row for row in csv.reader(text.strip().splitlines(), skipinitialspace=True) if row]
    if not rows or not any("." in cell or cell.strip() in ("index", "name", "uuid", "pstate") for cell in rows[0]):
        raise ValueError("not nvidia-smi --query-gpu CSV (no header row)")
    columns = [_column(c) for c in rows[0]]
    devices: List[Dict[str, Any]] = []
    driver = None
    for number, row in enumerate(rows[1:]):
        values = dict(zip(columns, (cell.strip() for cell in row)))
        index = to_int(values.get("index"))
        dev = empty_device(index if index is not None else number)
        for column, value in values.items():
            if column in COLUMNS:
                field, convert = COLUMNS[column]
                # "[N/A]", "[Not Supported]", "[Requested functionality has been deprecated]"
                dev[field] = None if is_na(value) or value.startswith("[") else convert(value)
        mask = _hex_mask(values.get("clocks_event_reasons.active"))
        if mask is not None:
            dev["clock_event_reasons"] = clock_event_names(mask)
        else:
            states = {REASON_COLUMNS[c.split(".", 1)[1]]: to_bool(v) for c, v in values.items()
                      if c.startswith("clocks_event_reasons.") and c.split(".", 1)[1] in REASON_COLUMNS}
            if any(v is not None for v in states.values()):
                dev["clock_event_reasons"] = [n for n, active in states.items() if active]
        driver = driver or text_or_none(values.get("driver_version"))
        devices.append(dev)
    return {"driver_version": driver, "cuda_version": None, "attached_gpus": None, "devices": devices}
