"""Parser for ``nvidia-smi -q -x`` (XML, DTD v11 of driver 510 to v12+ of 535 and later) to the facts'
device shape, the same as ``_smi.parse_nvidia_smi_text``. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from ._device import empty_device
from ._smi import HISTOGRAM_KEYS
from ._util import sum_known, text_or_none, to_bool, to_float, to_int

if TYPE_CHECKING:  # imported where the XML is parsed: GPU-less nodes never pay for it
    import xml.etree.ElementTree as ET

# <clocks_event_reason_X> (535+) / <clocks_throttle_reason_X> (older): X -> the facts' name
XML_CLOCK_REASONS = {
    "gpu_idle": "gpu_idle", "applications_clocks_setting": "applications_clocks_setting",
    "sw_power_cap": "sw_power_cap", "hw_slowdown": "hw_slowdown", "hw_thermal_slowdown": "hw_thermal_slowdown",
    "hw_power_brake_slowdown": "hw_power_brake_slowdown", "sync_boost": "sync_boost",
    "sw_thermal_slowdown": "sw_thermal_slowdown", "display_clocks_setting": "display_clock_setting",
}


# facts key <- (converter, paths under <gpu>: the first present wins, for tags renamed across DTDs)
Fields = Tuple[Tuple[str, Callable[[Optional[str]], Any], Tuple[str, ...]], ...]
XML_FIELDS: Fields = (
    ("name", text_or_none, ("product_name",)),
    ("uuid", text_or_none, ("uuid",)),
    ("architecture", text_or_none, ("product_architecture",)),
    ("vbios_version", text_or_none, ("vbios_version",)),
    ("memory_total_mib", to_int, ("fb_memory_usage/total",)),
    ("ecc_mode", text_or_none, ("ecc_mode/current_ecc",)),
    ("sram_threshold_exceeded", to_bool, ("ecc_errors/aggregate/sram_threshold_exceeded",)),
    ("temperature_c", to_float, ("temperature/gpu_temp",)),
    ("persistence_mode", to_bool, ("persistence_mode",)),
    ("pcie_gen_current", to_int, ("pci/pci_gpu_link_info/pcie_gen/current_link_gen",)),
    ("pcie_gen_max", to_int, ("pci/pci_gpu_link_info/pcie_gen/max_link_gen",)),
    ("pcie_width_current", to_int, ("pci/pci_gpu_link_info/link_widths/current_link_width",)),
    ("pcie_width_max", to_int, ("pci/pci_gpu_link_info/link_widths/max_link_width",)),
    ("pcie_replays", to_int, ("pci/replay_counter",)),
    ("performance_state", text_or_none, ("performance_state",)),
    ("utilization_gpu_pct", to_int, ("utilization/gpu_util",)),
    ("clocks_sm_mhz", to_int, ("clocks/sm_clock",)),
    ("clocks_max_sm_mhz", to_int, ("max_clocks/sm_clock",)),
    ("fabric_state", text_or_none, ("fabric/state",)),
    ("fabric_status", text_or_none, ("fabric/status",)),
    ("fabric_clique_id", text_or_none, ("fabric/cliqueId", "fabric/clique_id")),
    ("fabric_cluster_uuid", text_or_none, ("fabric/clusterUuid", "fabric/cluster_uuid")),
    ("mig_mode", text_or_none, ("mig_mode/current_mig",)),
)
# the same, under <remapped_rows> (Ampere and later)
XML_REMAP_FIELDS: Fields = (
    ("remapped_rows_pending", to_bool, ("remapped_row_pending",)),
    ("remapped_rows_failure", to_bool, ("remapped_row_failure",)),
    ("remapped_rows_uncorrectable", to_int, ("remapped_row_unc",)),
    ("remapped_rows_correctable", to_int, ("remapped_row_corr",)),
)


def _x(elem: Optional[ET.Element], *paths: str) -> Optional[str]:
    """Text of the first of ``paths`` present under ``elem`` (tags were renamed across DTDs)."""
    if elem is None:
        return None
    for path in paths:
        found = elem.find(path)
        if found is not None and found.text is not None:
            return found.text.strip()
    return None


def _fill(dev: Dict[str, Any], elem: ET.Element, fields: Fields) -> None:
    for key, convert, paths in fields:
        dev[key] = convert(_x(elem, *paths))


def _x_uncorrectable(section: Optional[ET.Element]) -> Optional[int]:
    if section is None:
        return None
    values = [to_int(c.text) for c in section if "uncorrectable" in c.tag and "threshold" not in c.tag]
    if section.find("double_bit/total") is not None:
        values.append(to_int(_x(section, "double_bit/total")))
    return sum_known(values)


def _x_clock_reasons(gpu: ET.Element) -> Optional[List[str]]:
    for section, prefix in (("clocks_event_reasons", "clocks_event_reason_"), ("clocks_throttle_reasons", "clocks_throttle_reason_")):
        found = gpu.find(section)
        if found is None:
            continue
        states = {}
        for child in found:
            key = child.tag[len(prefix):] if child.tag.startswith(prefix) else None
            if key in XML_CLOCK_REASONS:
                states[XML_CLOCK_REASONS[key]] = to_bool(child.text)
        if any(v is not None for v in states.values()):
            return [name for name, active in states.items() if active]
    return None


def _x_histogram(remap: ET.Element) -> Optional[Dict[str, Optional[int]]]:
    counts = {key: to_int(_x(remap, "row_remapper_histogram/row_remapper_histogram_" + key)) for key in HISTOGRAM_KEYS}
    return counts if any(v is not None for v in counts.values()) else None


def parse_nvidia_smi_xml(text: str) -> Dict[str, Any]:
    """`nvidia-smi -q -x` -> the same shape as :func:`parse_nvidia_smi_text`. Raises ValueError when
    the text is not nvidia-smi XML and ``xml.etree.ElementTree.ParseError`` (a SyntaxError) when it
    is cut off or corrupt."""
    start = text.find("<nvidia_smi_log")
    if start < 0:
        raise ValueError("not nvidia-smi XML (no <nvidia_smi_log>)")
    import xml.etree.ElementTree as ET

    root = ET.fromstring(text[start:])  # the DOCTYPE before it names an external DTD: skip it
    devices = []
    for gpu in root.findall("gpu"):
        dev = empty_device(len(devices))
        dev["pci"] = gpu.get("id")
        _fill(dev, gpu, XML_FIELDS)
        dev["ecc_uncorrected_volatile"] = _x_uncorrectable(gpu.find("ecc_errors/volatile"))
        dev["ecc_uncorrected_aggregate"] = _x_uncorrectable(gpu.find("ecc_errors/aggregate"))
        retired = gpu.find("retired_pages")
        if retired is not None:
            dev["retired_pages_sbe"] = to_int(_x(retired, "multiple_single_bit_retirement/retired_count"))
            dev["retired_pages_dbe"] = to_int(_x(retired, "double_bit_retirement/retired_count"))
            dev["retired_pages_count"] = sum_known([dev["retired_pages_sbe"], dev["retired_pages_dbe"]])
            flags = [to_bool(_x(retired, "pending_retirement")), to_bool(_x(retired, "pending_blacklist"))]
            dev["retired_pages_pending"] = True if True in flags else (False if False in flags else None)
        remap = gpu.find("remapped_rows")
        if remap is not None and len(remap):
            _fill(dev, remap, XML_REMAP_FIELDS)
            dev["remap_histogram"] = _x_histogram(remap)
        dev["clock_event_reasons"] = _x_clock_reasons(gpu)
        devices.append(dev)
    return {
        "driver_version": text_or_none(_x(root, "driver_version")),
        "cuda_version": text_or_none(_x(root, "cuda_version")),
        "attached_gpus": to_int(_x(root, "attached_gpus")),
        "devices": devices,
    }
