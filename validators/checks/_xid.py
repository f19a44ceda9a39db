"""NVIDIA Xid codes plinth knows: what each means and what to do about it.

Source: NVIDIA "Xid Errors" catalogue (https://docs.nvidia.com/deploy/xid-errors/) and its
"GPU debug guidelines" (https://docs.nvidia.com/deploy/gpu-debug-guidelines/). ``hardware=False``
marks Xids NVIDIA attributes to the application in most cases: plinth warns on those instead of
failing the node. Any Xid not listed here counts as a fault (better a false alarm than a silent
bad GPU).
"""

from __future__ import annotations

from typing import NamedTuple


class XidInfo(NamedTuple):
    meaning: str
    remediation: str
    hardware: bool = True


_RESET = "reset the GPU (nvidia-smi -r, or reboot) when idle"

XIDS: dict[int, XidInfo] = {
    13: XidInfo("graphics engine exception", "usually an application bug (out-of-range access); check the workload", False),
    31: XidInfo("GPU memory page fault", "usually an application bug (illegal address); check the workload", False),
    32: XidInfo("invalid or corrupted push buffer stream", "check the PCIe link and the driver; " + _RESET),
    43: XidInfo("GPU stopped processing", "the application hit a fault; restart it", False),
    45: XidInfo("preemptive cleanup after an earlier error", "follows another Xid or a killed process; look at the Xid before it", False),
    48: XidInfo("double-bit ECC error (DBE)", _RESET + "; if it repeats, drain the node and RMA the GPU"),
    61: XidInfo("internal micro-controller breakpoint", _RESET + "; update the driver; RMA if it repeats"),
    62: XidInfo("internal micro-controller halt", _RESET + "; update the driver; RMA if it repeats"),
    63: XidInfo("ECC page retirement / row remap recorded", _RESET + " so the remap takes effect"),
    64: XidInfo("ECC page retirement / row remap failure", "drain the node and RMA the GPU"),
    68: XidInfo("video processor exception", "usually the application (NVDEC/NVENC use); restart it", False),
    74: XidInfo("NVLink error", "check NVLink/NVSwitch health and nvidia-fabricmanager; reset the GPUs; reseat or RMA the baseboard if it repeats"),
    79: XidInfo("GPU has fallen off the bus", "drain the node, then reseat the GPU and check PCIe/power; RMA if it repeats"),
    92: XidInfo("high single-bit ECC error rate", "watch the GPU; drain and RMA if the rate persists"),
    94: XidInfo("contained ECC error", "restart the affected application; " + _RESET),
    95: XidInfo("uncontained ECC error", "drain the node and " + _RESET + "; RMA if it repeats"),
    119: XidInfo("GSP RPC timeout", _RESET + "; update driver/firmware; drain the node if it repeats"),
    120: XidInfo("GSP error", _RESET + "; update driver/firmware; drain the node if it repeats"),
}


def describe(xid: int) -> XidInfo:
    return XIDS.get(xid, XidInfo("see NVIDIA's Xid catalogue", "look the code up in NVIDIA's Xid catalogue; " + _RESET))
