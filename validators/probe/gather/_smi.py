"""Parsers for ``nvidia-smi -q`` (text, every layout from driver 510 to 590) and ``nvidia-smi -q -x``
(XML, in ``_smi_xml.py``), both to the facts' device shape. Pure: the controller's tests run them on recorded output."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from ._device import empty_device
from ._util import is_na, sum_known, text_or_none, to_bool, to_float, to_int

NO_DRIVER_MARKERS = (
    "couldn't communicate with the nvidia driver",
    "could not communicate with the nvidia driver",
    "nvml: driver not loaded",
    "driver not loaded",
)


def classify_smi_failure(output: str) -> str:
    """A one-line reason for a failed nvidia-smi run, 'no NVIDIA driver …' when the driver is absent."""
    low = output.lower()
    first = next((line.strip() for line in output.splitlines() if line.strip()), "no output")
    if any(marker in low for marker in NO_DRIVER_MARKERS):
        return "no NVIDIA driver: " + first
    if "driver/library version mismatch" in low:
        return "NVIDIA driver/library version mismatch (reboot or reload the nvidia kernel module): " + first
    return "nvidia-smi failed: " + first


class _Node:
    __slots__ = ("children", "key", "value")

    def __init__(self, key: str, value: Optional[str]) -> None:
        self.key = key
        self.value = value
        self.children: List[_Node] = []

    def get(self, *path: str) -> Optional[_Node]:
        node: Optional[_Node] = self
        for part in path:
            if node is None:
                return None
            node = next((c for c in node.children if c.key == part), None)
        return node

    def val(self, *path: str) -> Optional[str]:
        node = self.get(*path)
        return node.value if node is not None else None


def parse_indented(text: str) -> _Node:
    """`nvidia-smi -q` layout ("Key   : value" lines, sections by indentation) -> a tree."""
    root = _Node("", None)
    stack: List[Tuple[int, _Node]] = [(-1, root)]
    for raw in text.splitlines():
        line = raw.rstrip().expandtabs(8)
        if not line.strip() or line.lstrip().startswith("="):
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if " : " in body:
            key, _, value = body.partition(" : ")
            node = _Node(key.strip(), value.strip())
        elif body.endswith(" :"):
            node = _Node(body[:-2].strip(), "")
        else:
            node = _Node(body, None)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack[-1][1].children.append(node)
        stack.append((indent, node))
    return root


def _uncorrectable(section: Optional[_Node]) -> Optional[int]:
    """Sum of the uncorrectable counters of an ECC 'Volatile'/'Aggregate' section, across layouts:
    'DRAM Uncorrectable' + 'SRAM Uncorrectable*' (Ampere+), or 'Double Bit' > 'Total' (older)."""
    if section is None:
        return None
    values = [to_int(c.value) for c in section.children if "uncorrectable" in c.key.lower() and c.value is not None]
    double = section.val("Double Bit", "Total")
    if double is not None:
        values.append(to_int(double))
    return sum_known(values)


# `nvidia-smi -q` names of the clock event (throttle) reasons -> the facts' names (_device.CLOCK_EVENT_BITS)
TEXT_CLOCK_REASONS = {
    "Idle": "gpu_idle", "GPU Idle": "gpu_idle", "Applications Clocks Setting": "applications_clocks_setting",
    "SW Power Cap": "sw_power_cap", "HW Slowdown": "hw_slowdown", "HW Thermal Slowdown": "hw_thermal_slowdown",
    "HW Power Brake Slowdown": "hw_power_brake_slowdown", "Sync Boost": "sync_boost",
    "SW Thermal Slowdown": "sw_thermal_slowdown", "Display Clock Setting": "display_clock_setting",
}
HISTOGRAM_KEYS = ("max", "high", "partial", "low", "none")


# facts key <- (converter, paths under the GPU's section: the first with a value wins, for keys
# renamed across drivers). A section that is absent leaves the value None, as "not reported".
Fields = Tuple[Tuple[str, Callable[[Optional[str]], Any], Tuple[Tuple[str, ...], ...]], ...]
TEXT_FIELDS: Fields = (
    ("name", text_or_none, (("Product Name",),)),
    ("uuid", text_or_none, (("GPU UUID",),)),
    ("architecture", text_or_none, (("Product Architecture",),)),
    ("vbios_version", text_or_none, (("VBIOS Version",),)),
    ("memory_total_mib", to_int, (("FB Memory Usage", "Total"),)),
    ("ecc_mode", text_or_none, (("ECC Mode", "Current"),)),
    ("sram_threshold_exceeded", to_bool, (("ECC Errors", "Aggregate", "SRAM Threshold Exceeded"),)),
    ("temperature_c", to_float, (("Temperature", "GPU Current Temp"),)),
    ("persistence_mode", to_bool, (("Persistence Mode",),)),
    ("pcie_gen_current", to_int, (("PCI", "GPU Link Info", "PCIe Generation", "Current"),)),
    ("pcie_gen_max", to_int, (("PCI", "GPU Link Info", "PCIe Generation", "Max"),
                              ("PCI", "GPU Link Info", "PCIe Generation", "Device Max"))),
    ("pcie_width_current", to_int, (("PCI", "GPU Link Info", "Link Width", "Current"),)),
    ("pcie_width_max", to_int, (("PCI", "GPU Link Info", "Link Width", "Max"),)),
    ("pcie_replays", to_int, (("PCI", "Replays Since Reset"),)),
    ("performance_state", text_or_none, (("Performance State",),)),
    ("utilization_gpu_pct", to_int, (("Utilization", "Gpu"),)),
    ("clocks_sm_mhz", to_int, (("Clocks", "SM"),)),
    ("clocks_max_sm_mhz", to_int, (("Max Clocks", "SM"),)),
    ("fabric_state", text_or_none, (("Fabric", "State"),)),
    ("fabric_status", text_or_none, (("Fabric", "Status"),)),
    ("fabric_clique_id", text_or_none, (("Fabric", "CliqueId"),)),
    ("fabric_cluster_uuid", text_or_none, (("Fabric", "ClusterUUID"),)),
    ("mig_mode", text_or_none, (("MIG Mode", "Current"),)),
)
# the same, under "Remapped Rows" (Ampere and later)
TEXT_REMAP_FIELDS: Fields = (
    ("remapped_rows_pending", to_bool, (("Pending",),)),
    ("remapped_rows_failure", to_bool, (("Remapping Failure Occurred",),)),
    ("remapped_rows_uncorrectable", to_int, (("Uncorrectable Error",),)),
    ("remapped_rows_correctable", to_int, (("Correctable Error",),)),
)


def _fill(dev: Dict[str, Any], node: _Node, fields: Fields) -> None:
    for key, convert, paths in fields:
        dev[key] = convert(next((v for v in (node.val(*path) for path in paths) if v), None))


def _walk(node: _Node) -> List[_Node]:
    out = []
    for child in node.children:
        out.append(child)
        out.extend(_walk(child))
    return out


def _clock_reasons(section: Optional[_Node]) -> Optional[List[str]]:
    """'Clocks Event Reasons' (535+) or 'Clocks Throttle Reasons' -> active reason names; None when
    the section is absent or says N/A throughout. HW Thermal / Power Brake sit one level deeper,
    under HW Slowdown."""
    if section is None:
        return None
    states = {TEXT_CLOCK_REASONS[n.key]: to_bool(n.value) for n in _walk(section) if n.key in TEXT_CLOCK_REASONS}
    if not any(v is not None for v in states.values()):
        return None
    return [name for name, active in states.items() if active]


def _histogram(section: Optional[_Node]) -> Optional[Dict[str, Optional[int]]]:
    if section is None:
        return None
    counts = {key: to_int(section.val(key.capitalize())) for key in HISTOGRAM_KEYS}
    return counts if any(v is not None for v in counts.values()) else None


def parse_nvidia_smi_text(text: str) -> Dict[str, Any]:
    """`nvidia-smi -q` (or `-q -d PAGE_RETIREMENT`) text -> {driver_version, cuda_version,
    attached_gpus, devices: [...]} in the facts' device shape. Both layouts: drivers up to 560
    (values at column 44) and 570+ (column 55, more sub-sections)."""
    root = parse_indented(text)
    devices = []
    for gpu in (c for c in root.children if c.key.startswith("GPU ") and c.value is None):
        dev = empty_device(len(devices))
        dev["pci"] = gpu.key[4:].strip()
        _fill(dev, gpu, TEXT_FIELDS)
        dev["ecc_uncorrected_volatile"] = _uncorrectable(gpu.get("ECC Errors", "Volatile"))
        dev["ecc_uncorrected_aggregate"] = _uncorrectable(gpu.get("ECC Errors", "Aggregate"))
        retired = gpu.get("Retired Pages")
        if retired is not None:
            dev["retired_pages_sbe"] = to_int(retired.val("Single Bit ECC"))
            dev["retired_pages_dbe"] = to_int(retired.val("Double Bit ECC"))
            dev["retired_pages_count"] = sum_known([dev["retired_pages_sbe"], dev["retired_pages_dbe"]])
            pending = next((c.value for c in retired.children if c.key.startswith("Pending")), None)
            dev["retired_pages_pending"] = to_bool(pending)
        remap = gpu.get("Remapped Rows")
        if remap is not None and not (remap.value is not None and is_na(remap.value)):
            _fill(dev, remap, TEXT_REMAP_FIELDS)
            dev["remap_histogram"] = _histogram(remap.get("Bank Remap Availability Histogram"))
        dev["clock_event_reasons"] = _clock_reasons(gpu.get("Clocks Event Reasons") or gpu.get("Clocks Throttle Reasons"))
        devices.append(dev)
    return {
        "driver_version": text_or_none(root.val("Driver Version")),
        "cuda_version": text_or_none(root.val("CUDA Version")),
        "attached_gpus": to_int(root.val("Attached GPUs")),
        "devices": devices,
    }
