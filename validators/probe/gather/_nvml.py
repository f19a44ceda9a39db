"""GPU facts through NVML's Python binding (``pynvml`` from nvidia-ml-py), when the node has it.

The binding is imported in :meth:`NvmlSession.open`: it is optional on the node (the probe is stdlib
only) and its absence sends the probe to ``nvidia-smi``. One session serves both samples of the
counters that are judged by their growth (PCIe replays, NVLink errors), so NVML is initialised once.
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable, Dict, List, Optional

from ._device import FABRIC_STATES, clock_event_names, empty_device
from ._util import MIB

ARCHITECTURES = {5: "Volta", 6: "Turing", 7: "Ampere", 8: "Ada Lovelace", 9: "Hopper", 10: "Blackwell"}


def _call(fn: Optional[Callable[..., Any]], *args: Any) -> Any:
    """fn(*args), or None when fn is missing (an older nvidia-ml-py) or NVML refuses (not supported)."""
    if fn is None:
        return None
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - NVMLError_NotSupported and friends: the field stays unknown
        return None


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


class NvmlSession:
    """``open()`` (raises ImportError without pynvml, NVML's errors without a driver), ``read()``,
    ``sample()`` any number of times, ``close()``."""

    def __init__(self) -> None:
        self.nvml: Any = None
        self.handles: List[Any] = []
        self.links: List[List[int]] = []  # per GPU: the NVLink link numbers it has

    def open(self) -> None:
        import pynvml  # type: ignore  # only present on some nodes

        pynvml.nvmlInit()
        self.nvml = pynvml

    def close(self) -> None:
        if self.nvml is not None:
            try:
                self.nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001, S110 - shutting down after a failure: nothing left to report
                pass

    def q(self, name: str, *args: Any) -> Any:
        return _call(getattr(self.nvml, name, None), *args)

    def read(self) -> Dict[str, Any]:
        nv = self.nvml
        cuda = self.q("nvmlSystemGetCudaDriverVersion")
        out: Dict[str, Any] = {
            "driver_version": _text(self.q("nvmlSystemGetDriverVersion")),
            "cuda_version": f"{cuda // 1000}.{(cuda % 1000) // 10}" if cuda else None,
            "attached_gpus": nv.nvmlDeviceGetCount(),
            "devices": [],
        }
        for i in range(out["attached_gpus"]):
            handle = nv.nvmlDeviceGetHandleByIndex(i)
            self.handles.append(handle)
            out["devices"].append(self._device(i, handle))
        return out

    def _device(self, i: int, h: Any) -> Dict[str, Any]:
        nv = self.nvml
        enabled = getattr(nv, "NVML_FEATURE_ENABLED", 1)
        dev = empty_device(i)
        dev["name"] = _text(self.q("nvmlDeviceGetName", h))
        dev["uuid"] = _text(self.q("nvmlDeviceGetUUID", h))
        arch = self.q("nvmlDeviceGetArchitecture", h)
        dev["architecture"] = ARCHITECTURES.get(arch) if isinstance(arch, int) else None
        dev["vbios_version"] = _text(self.q("nvmlDeviceGetVbiosVersion", h))
        pci = self.q("nvmlDeviceGetPciInfo", h)
        dev["pci"] = _text(getattr(pci, "busId", None)) if pci is not None else None
        mem = self.q("nvmlDeviceGetMemoryInfo", h)
        dev["memory_total_mib"] = int(mem.total // MIB) if mem is not None else None
        ecc = self.q("nvmlDeviceGetEccMode", h)
        dev["ecc_mode"] = ("Enabled" if ecc[0] else "Disabled") if ecc else None
        unc = nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED
        dev["ecc_uncorrected_volatile"] = self.q("nvmlDeviceGetTotalEccErrors", h, unc, nv.NVML_VOLATILE_ECC)
        dev["ecc_uncorrected_aggregate"] = self.q("nvmlDeviceGetTotalEccErrors", h, unc, nv.NVML_AGGREGATE_ECC)
        sbe = self.q("nvmlDeviceGetRetiredPages", h, nv.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS)
        dbe = self.q("nvmlDeviceGetRetiredPages", h, nv.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
        if sbe is not None or dbe is not None:
            dev["retired_pages_sbe"] = len(sbe) if sbe is not None else None
            dev["retired_pages_dbe"] = len(dbe) if dbe is not None else None
            dev["retired_pages_count"] = len(sbe or []) + len(dbe or [])
        pend = self.q("nvmlDeviceGetRetiredPagesPendingStatus", h)
        dev["retired_pages_pending"] = None if pend is None else pend == enabled
        remap = self.q("nvmlDeviceGetRemappedRows", h)  # (correctable, uncorrectable, pending, failure)
        if remap is not None:
            dev["remapped_rows_correctable"] = int(remap[0])
            dev["remapped_rows_uncorrectable"] = int(remap[1])
            dev["remapped_rows_pending"] = bool(remap[2])
            dev["remapped_rows_failure"] = bool(remap[3])
            hist = self.q("nvmlDeviceGetRowRemapperHistogram", h)
            if hist is not None:
                dev["remap_histogram"] = {k: int(getattr(hist, k)) for k in ("max", "high", "partial", "low", "none")}
        dev["sram_threshold_exceeded"] = self._sram_threshold(h)
        temp = self.q("nvmlDeviceGetTemperature", h, nv.NVML_TEMPERATURE_GPU)
        dev["temperature_c"] = float(temp) if temp is not None else None
        pm = self.q("nvmlDeviceGetPersistenceMode", h)
        dev["persistence_mode"] = None if pm is None else pm == enabled
        dev["pcie_gen_current"] = self.q("nvmlDeviceGetCurrPcieLinkGeneration", h)
        dev["pcie_gen_max"] = self.q("nvmlDeviceGetMaxPcieLinkGeneration", h)
        dev["pcie_width_current"] = self.q("nvmlDeviceGetCurrPcieLinkWidth", h)
        dev["pcie_width_max"] = self.q("nvmlDeviceGetMaxPcieLinkWidth", h)
        pstate = self.q("nvmlDeviceGetPerformanceState", h)
        dev["performance_state"] = f"P{pstate}" if isinstance(pstate, int) and 0 <= pstate < 32 else None
        util = self.q("nvmlDeviceGetUtilizationRates", h)
        dev["utilization_gpu_pct"] = int(util.gpu) if util is not None else None
        reasons = self.q("nvmlDeviceGetCurrentClocksEventReasons", h)
        if reasons is None:  # drivers before 535 name it throttle reasons
            reasons = self.q("nvmlDeviceGetCurrentClocksThrottleReasons", h)
        dev["clock_event_reasons"] = clock_event_names(int(reasons)) if reasons is not None else None
        sm = getattr(nv, "NVML_CLOCK_SM", 1)
        dev["clocks_sm_mhz"] = self.q("nvmlDeviceGetClockInfo", h, sm)
        dev["clocks_max_sm_mhz"] = self.q("nvmlDeviceGetMaxClockInfo", h, sm)
        mig = self.q("nvmlDeviceGetMigMode", h)
        dev["mig_mode"] = ("Enabled" if mig[0] else "Disabled") if mig else None
        links: List[int] = []
        active = 0
        for link in range(getattr(nv, "NVML_NVLINK_MAX_LINKS", 18)):
            state = self.q("nvmlDeviceGetNvLinkState", h, link)
            if state is None:
                continue  # link index not present on this GPU
            links.append(link)
            active += 1 if state == enabled else 0
        self.links.append(links)
        if dev["mig_mode"] != "Enabled":
            dev["nvlink_links_total"], dev["nvlink_links_active"] = len(links), active
        dev.update(self._counters(i))
        dev.update(self._fabric(h))
        return dev

    def _counters(self, i: int) -> Dict[str, Any]:
        """The counters judged by their growth: PCIe replays and NVLink errors summed over links."""
        nv, h = self.nvml, self.handles[i]
        errors: Optional[Dict[str, int]] = None
        kinds = (("replay", "NVML_NVLINK_ERROR_DL_REPLAY"), ("recovery", "NVML_NVLINK_ERROR_DL_RECOVERY"),
                 ("crc", "NVML_NVLINK_ERROR_DL_CRC_FLIT"), ("crc", "NVML_NVLINK_ERROR_DL_CRC_DATA"))
        for link in self.links[i] if i < len(self.links) else []:
            for kind, const in kinds:
                value = self.q("nvmlDeviceGetNvLinkErrorCounter", h, link, getattr(nv, const, -1))
                if value is not None:
                    errors = errors or {"replay": 0, "recovery": 0, "crc": 0}
                    errors[kind] += int(value)
        return {"pcie_replays": self.q("nvmlDeviceGetPcieReplayCounter", h), "nvlink_errors": errors}

    def _sram_threshold(self, h: Any) -> Optional[bool]:
        """nvmlDeviceGetSramEccErrorStatus's bThresholdExceeded (Ampere and later, root only): None when
        NVML cannot say (not root, not supported, an older nvidia-ml-py)."""
        nv = self.nvml
        if not hasattr(nv, "c_nvmlEccSramErrorStatus_v1_t"):
            return None
        status = nv.c_nvmlEccSramErrorStatus_v1_t()  # its __init__ sets the struct version
        if self.q("nvmlDeviceGetSramEccErrorStatus", h, ctypes.byref(status)) is None:
            return None
        return bool(status.bThresholdExceeded)

    def _fabric(self, h: Any) -> Dict[str, Any]:
        """nvmlDeviceGetGpuFabricInfoV (Hopper and later), else the deprecated nvmlDeviceGetGpuFabricInfo."""
        nv = self.nvml
        for struct, fn in (("c_nvmlGpuFabricInfoV_t", "nvmlDeviceGetGpuFabricInfoV"), ("c_nvmlGpuFabricInfo_t", "nvmlDeviceGetGpuFabricInfo")):
            if not hasattr(nv, struct) or not hasattr(nv, fn):
                continue
            info = getattr(nv, struct)()
            try:
                getattr(nv, fn)(h, ctypes.byref(info))  # fills info; returns NVML_SUCCESS or raises
            except Exception:  # noqa: BLE001, S112 - NotSupported (before Hopper), FunctionNotFound (old driver)
                continue
            if info.state == 0:  # NVML_GPU_FABRIC_STATE_NOT_SUPPORTED: no NVSwitch fabric on this GPU
                return {}
            status = "Success" if info.status == 0 else _text(self.q("nvmlErrorString", info.status)) or f"error {info.status}"
            raw = bytes(bytearray(info.clusterUuid))
            uuid = "-".join((raw[:4].hex(), raw[4:6].hex(), raw[6:8].hex(), raw[8:10].hex(), raw[10:16].hex()))
            return {"fabric_state": FABRIC_STATES.get(info.state, str(info.state)), "fabric_status": status,
                    "fabric_clique_id": str(info.cliqueId), "fabric_cluster_uuid": uuid}
        return {}

    def sample(self) -> List[Dict[str, Any]]:
        """The growth-judged counters again, one dict per GPU in index order."""
        return [self._counters(i) for i in range(len(self.handles))]
