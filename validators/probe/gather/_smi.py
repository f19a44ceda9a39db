"""Parsers for ``nvidia-smi -q`` (text, every layout from driver 510 to 590) and ``nvidia-smi -q -x``
(XML), both to the facts' device shape. Pure: the controller's tests run them on recorded output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ._device import empty_device
from ._util import is_na, sum_known, text_or_none, to_bool, to_float, to_int

if TYPE_CHECKING:  # imported where the XML is parsed: most nodes answer -q -x, GPU-less ones never do
    import xml.etree.ElementTree as ET

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


def parse_nvidia_smi_text(text: str) -> Dict[str, Any]:
    """`nvidia-smi -q` (or `-q -d PAGE_RETIREMENT`) text -> {driver_version, cuda_version,
    attached_gpus, devices: [...]} in the facts' device shape."""
    root = parse_indented(text)
    devices = []
    for gpu in (c for c in root.children if c.key.startswith("GPU ") and c.value is None):
        dev = empty_device(len(devices))
        dev["pci"] = gpu.key[4:].strip()
        dev["name"] = text_or_none(gpu.val("Product Name"))
        dev["uuid"] = text_or_none(gpu.val("GPU UUID"))
        dev["memory_total_mib"] = to_int(gpu.val("FB Memory Usage", "Total"))
        dev["ecc_mode"] = text_or_none(gpu.val("ECC Mode", "Current"))
        dev["ecc_uncorrected_volatile"] = _uncorrectable(gpu.get("ECC Errors", "Volatile"))
        dev["ecc_uncorrected_aggregate"] = _uncorrectable(gpu.get("ECC Errors", "Aggregate"))
        retired = gpu.get("Retired Pages")
        if retired is not None:
            counts = [to_int(c.value) for c in retired.children if c.key in ("Single Bit ECC", "Double Bit ECC")]
            dev["retired_pages_count"] = sum_known(counts)
            pending = next((c.value for c in retired.children if c.key.startswith("Pending")), None)
            dev["retired_pages_pending"] = to_bool(pending)
        remap = gpu.get("Remapped Rows")
        if remap is not None and not (remap.value is not None and is_na(remap.value)):
            dev["remapped_rows_pending"] = to_bool(remap.val("Pending"))
            dev["remapped_rows_failure"] = to_bool(remap.val("Remapping Failure Occurred"))
            dev["remapped_rows_uncorrectable"] = to_int(remap.val("Uncorrectable Error"))
        dev["temperature_c"] = to_float(gpu.val("Temperature", "GPU Current Temp"))
        dev["persistence_mode"] = to_bool(gpu.val("Persistence Mode"))
        link = gpu.get("PCI", "GPU Link Info")
        if link is not None:
            gen = link.get("PCIe Generation")
            if gen is not None:
                dev["pcie_gen_current"] = to_int(gen.val("Current"))
                dev["pcie_gen_max"] = to_int(gen.val("Max") or gen.val("Device Max"))
            dev["pcie_width_current"] = to_int(link.val("Link Width", "Current"))
            dev["pcie_width_max"] = to_int(link.val("Link Width", "Max"))
        dev["mig_mode"] = text_or_none(gpu.val("MIG Mode", "Current"))
        devices.append(dev)
    return {
        "driver_version": text_or_none(root.val("Driver Version")),
        "cuda_version": text_or_none(root.val("CUDA Version")),
        "attached_gpus": to_int(root.val("Attached GPUs")),
        "devices": devices,
    }


def _x(elem: Optional[ET.Element], path: str) -> Optional[str]:
    if elem is None:
        return None
    found = elem.find(path)
    return found.text.strip() if found is not None and found.text is not None else None


def _x_uncorrectable(section: Optional[ET.Element]) -> Optional[int]:
    if section is None:
        return None
    values = [to_int(c.text) for c in section if "uncorrectable" in c.tag and "threshold" not in c.tag]
    if section.find("double_bit/total") is not None:
        values.append(to_int(_x(section, "double_bit/total")))
    return sum_known(values)


def parse_nvidia_smi_xml(text: str) -> Dict[str, Any]:
    """`nvidia-smi -q -x` -> the same shape as :func:`parse_nvidia_smi_text`."""
    start = text.find("<nvidia_smi_log")
    if start < 0:
        raise ValueError("not nvidia-smi XML (no <nvidia_smi_log>)")
    import xml.etree.ElementTree as ET

    root = ET.fromstring(text[start:])  # the DOCTYPE before it names an external DTD: skip it
    devices = []
    for gpu in root.findall("gpu"):
        dev = empty_device(len(devices))
        dev["pci"] = gpu.get("id")
        dev["name"] = text_or_none(_x(gpu, "product_name"))
        dev["uuid"] = text_or_none(_x(gpu, "uuid"))
        dev["memory_total_mib"] = to_int(_x(gpu, "fb_memory_usage/total"))
        dev["ecc_mode"] = text_or_none(_x(gpu, "ecc_mode/current_ecc"))
        dev["ecc_uncorrected_volatile"] = _x_uncorrectable(gpu.find("ecc_errors/volatile"))
        dev["ecc_uncorrected_aggregate"] = _x_uncorrectable(gpu.find("ecc_errors/aggregate"))
        retired = gpu.find("retired_pages")
        if retired is not None:
            dev["retired_pages_count"] = sum_known([
                to_int(_x(retired, "multiple_single_bit_retirement/retired_count")),
                to_int(_x(retired, "double_bit_retirement/retired_count")),
            ])
            flags = [to_bool(_x(retired, "pending_retirement")), to_bool(_x(retired, "pending_blacklist"))]
            dev["retired_pages_pending"] = True if True in flags else (False if False in flags else None)
        remap = gpu.find("remapped_rows")
        if remap is not None and len(remap):
            dev["remapped_rows_pending"] = to_bool(_x(remap, "remapped_row_pending"))
            dev["remapped_rows_failure"] = to_bool(_x(remap, "remapped_row_failure"))
            dev["remapped_rows_uncorrectable"] = to_int(_x(remap, "remapped_row_unc"))
        dev["temperature_c"] = to_float(_x(gpu, "temperature/gpu_temp"))
        dev["persistence_mode"] = to_bool(_x(gpu, "persistence_mode"))
        dev["pcie_gen_current"] = to_int(_x(gpu, "pci/pci_gpu_link_info/pcie_gen/current_link_gen"))
        dev["pcie_gen_max"] = to_int(_x(gpu, "pci/pci_gpu_link_info/pcie_gen/max_link_gen"))
        dev["pcie_width_current"] = to_int(_x(gpu, "pci/pci_gpu_link_info/link_widths/current_link_width"))
        dev["pcie_width_max"] = to_int(_x(gpu, "pci/pci_gpu_link_info/link_widths/max_link_width"))
        dev["mig_mode"] = text_or_none(_x(gpu, "mig_mode/current_mig"))
        devices.append(dev)
    return {
        "driver_version": text_or_none(_x(root, "driver_version")),
        "cuda_version": text_or_none(_x(root, "cuda_version")),
        "attached_gpus": to_int(_x(root, "attached_gpus")),
        "devices": devices,
    }
