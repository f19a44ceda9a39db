"""GPU facts through NVML's Python binding (``pynvml`` from nvidia-ml-py), when the node has it.

The binding is imported inside :func:`read_pynvml`: it is optional on the node (the probe is
stdlib only) and its absence sends the probe to ``nvidia-smi``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict

from ._device import empty_device
from ._util import MIB


def read_pynvml() -> Dict[str, Any]:
    """Every GPU's facts through NVML (nvidia-ml-py); raises ImportError without pynvml and NVML's
    own errors when the library or driver is missing (the caller falls back to nvidia-smi)."""
    import pynvml  # type: ignore  # only present on some nodes

    def call(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:  # noqa: BLE001 - NVMLError_NotSupported and friends: the field stays unknown
            return None

    def text(value: Any) -> Any:
        return value.decode() if isinstance(value, bytes) else value

    pynvml.nvmlInit()
    try:
        cuda = call(pynvml.nvmlSystemGetCudaDriverVersion)
        out: Dict[str, Any] = {
            "driver_version": text(call(pynvml.nvmlSystemGetDriverVersion)),
            "cuda_version": f"{cuda // 1000}.{(cuda % 1000) // 10}" if cuda else None,
            "attached_gpus": pynvml.nvmlDeviceGetCount(),
            "devices": [],
        }
        enabled = getattr(pynvml, "NVML_FEATURE_ENABLED", 1)
        for i in range(out["attached_gpus"]):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            dev = empty_device(i)
            dev["name"] = text(call(pynvml.nvmlDeviceGetName, h))
            dev["uuid"] = text(call(pynvml.nvmlDeviceGetUUID, h))
            pci = call(pynvml.nvmlDeviceGetPciInfo, h)
            dev["pci"] = text(getattr(pci, "busId", None)) if pci is not None else None
            mem = call(pynvml.nvmlDeviceGetMemoryInfo, h)
            dev["memory_total_mib"] = int(mem.total // MIB) if mem is not None else None
            ecc = call(pynvml.nvmlDeviceGetEccMode, h)
            dev["ecc_mode"] = ("Enabled" if ecc[0] else "Disabled") if ecc else None
            unc = pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
            dev["ecc_uncorrected_volatile"] = call(pynvml.nvmlDeviceGetTotalEccErrors, h, unc, pynvml.NVML_VOLATILE_ECC)
            dev["ecc_uncorrected_aggregate"] = call(pynvml.nvmlDeviceGetTotalEccErrors, h, unc, pynvml.NVML_AGGREGATE_ECC)
            sbe = call(pynvml.nvmlDeviceGetRetiredPages, h, pynvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS)
            dbe = call(pynvml.nvmlDeviceGetRetiredPages, h, pynvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
            if sbe is not None or dbe is not None:
                dev["retired_pages_count"] = len(sbe or []) + len(dbe or [])
            pend = call(pynvml.nvmlDeviceGetRetiredPagesPendingStatus, h)
            dev["retired_pages_pending"] = None if pend is None else pend == enabled
            remap = call(pynvml.nvmlDeviceGetRemappedRows, h)
            if remap is not None:
                dev["remapped_rows_uncorrectable"] = int(remap[1])
                dev["remapped_rows_pending"] = bool(remap[2])
                dev["remapped_rows_failure"] = bool(remap[3])
            temp = call(pynvml.nvmlDeviceGetTemperature, h, pynvml.NVML_TEMPERATURE_GPU)
            dev["temperature_c"] = float(temp) if temp is not None else None
            pm = call(pynvml.nvmlDeviceGetPersistenceMode, h)
            dev["persistence_mode"] = None if pm is None else pm == enabled
            dev["pcie_gen_current"] = call(pynvml.nvmlDeviceGetCurrPcieLinkGeneration, h)
            dev["pcie_gen_max"] = call(pynvml.nvmlDeviceGetMaxPcieLinkGeneration, h)
            dev["pcie_width_current"] = call(pynvml.nvmlDeviceGetCurrPcieLinkWidth, h)
            dev["pcie_width_max"] = call(pynvml.nvmlDeviceGetMaxPcieLinkWidth, h)
            mig = call(pynvml.nvmlDeviceGetMigMode, h)
            dev["mig_mode"] = ("Enabled" if mig[0] else "Disabled") if mig else None
            total = active = 0
            for link in range(getattr(pynvml, "NVML_NVLINK_MAX_LINKS", 18)):
                state = call(pynvml.nvmlDeviceGetNvLinkState, h, link)
                if state is None:
                    continue  # link index not present on this GPU
                total += 1
                active += 1 if state == enabled else 0
            if dev["mig_mode"] != "Enabled":
                dev["nvlink_links_total"], dev["nvlink_links_active"] = total, active
            out["devices"].append(dev)
        return out
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001, S110 - shutting down after a failure: nothing left to report
            pass
