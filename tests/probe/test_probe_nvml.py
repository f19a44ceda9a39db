"""The probe's NVML path (pynvml / nvidia-ml-py), run for real the way a transport runs it. No GPU
here, so a stand-in ``pynvml`` module with NVML's Python API names and shapes is put on PYTHONPATH."""

from __future__ import annotations

from pathlib import Path

from tests.probe.helpers import fake_nvidia_smi, fixture, probe_env, quiet_options, run_probe

FAKE_PYNVML = '''
NVML_FEATURE_ENABLED = 1
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_VOLATILE_ECC = 0
NVML_AGGREGATE_ECC = 1
NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS = 0
NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR = 1
NVML_TEMPERATURE_GPU = 0
NVML_NVLINK_MAX_LINKS = 36

class NVMLError(Exception):
    pass

class NVMLError_NotSupported(NVMLError):
    pass

class _Mem:
    total = 81559 * 1024 * 1024

class _Pci:
    def __init__(self, bus):
        self.busId = bus

def nvmlInit(): pass
def nvmlShutdown(): pass
def nvmlSystemGetDriverVersion(): return "550.90.07"
def nvmlSystemGetCudaDriverVersion(): return 12040
def nvmlDeviceGetCount(): return 2
def nvmlDeviceGetHandleByIndex(i): return i
def nvmlDeviceGetName(h): return "NVIDIA H100 80GB HBM3"
def nvmlDeviceGetUUID(h): return "GPU-%d" % h
def nvmlDeviceGetPciInfo(h): return _Pci(b"00000000:%02X:00.0" % (0x19 + h))
def nvmlDeviceGetMemoryInfo(h): return _Mem()
def nvmlDeviceGetEccMode(h): return [1, 1]
def nvmlDeviceGetTotalEccErrors(h, kind, counter): return 3 * h if counter == NVML_AGGREGATE_ECC else 0
def nvmlDeviceGetRetiredPages(h, cause): raise NVMLError_NotSupported()
def nvmlDeviceGetRetiredPagesPendingStatus(h): raise NVMLError_NotSupported()
def nvmlDeviceGetRemappedRows(h): return (0, h, h, 0)
def nvmlDeviceGetTemperature(h, sensor): return 35 + h
def nvmlDeviceGetPersistenceMode(h): return 1
def nvmlDeviceGetCurrPcieLinkGeneration(h): return 5
def nvmlDeviceGetMaxPcieLinkGeneration(h): return 5
def nvmlDeviceGetCurrPcieLinkWidth(h): return 16
def nvmlDeviceGetMaxPcieLinkWidth(h): return 16
def nvmlDeviceGetMigMode(h): return [0, 0]
def nvmlDeviceGetNvLinkState(h, link):
    if link >= 18:
        raise NVMLError("Invalid Argument")
    return 0 if (h == 1 and link < 2) else 1

# the device-health calls (nvidia-ml-py names and shapes)
import ctypes
NVML_CLOCK_SM = 1
NVML_NVLINK_ERROR_DL_REPLAY = 0
NVML_NVLINK_ERROR_DL_RECOVERY = 1
NVML_NVLINK_ERROR_DL_CRC_FLIT = 2
NVML_NVLINK_ERROR_DL_CRC_DATA = 3

class c_nvmlGpuFabricInfoV_t(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("clusterUuid", ctypes.c_uint8 * 16), ("status", ctypes.c_int),
                ("cliqueId", ctypes.c_uint32), ("state", ctypes.c_uint), ("healthMask", ctypes.c_uint32)]

def nvmlDeviceGetGpuFabricInfoV(h, ref):
    info = ref._obj  # called with ctypes.byref(struct), as NVML's C signature wants
    info.state, info.status, info.cliqueId = (3 if h == 0 else 2), 0, 7
    for i in range(16):
        info.clusterUuid[i] = i

class c_nvmlEccSramErrorStatus_v1_t(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("aggregateUncParity", ctypes.c_ulonglong), ("bThresholdExceeded", ctypes.c_uint)]

def nvmlDeviceGetSramEccErrorStatus(h, ref):
    ref._obj.bThresholdExceeded = 1 if h == 1 else 0  # GPU 1's SRAM is past the field-diag limit
    return 0

class _Util:
    gpu = 0

class _Hist:
    max, high, partial, low, none = 2560, 0, 0, 0, 0

_replays = {0: 10, 1: 10}

def nvmlDeviceGetVbiosVersion(h): return "96.00.74.00.0D"
def nvmlDeviceGetArchitecture(h): return 9
def nvmlDeviceGetCurrentClocksEventReasons(h): return 0x1 if h == 0 else 0x88
def nvmlDeviceGetClockInfo(h, clock): return 1980 if h == 0 else 86
def nvmlDeviceGetMaxClockInfo(h, clock): return 1980
def nvmlDeviceGetPerformanceState(h): return 0
def nvmlDeviceGetUtilizationRates(h): return _Util()
def nvmlDeviceGetRowRemapperHistogram(h): return _Hist()
def nvmlDeviceGetNvLinkErrorCounter(h, link, counter): return 1 if counter == NVML_NVLINK_ERROR_DL_CRC_FLIT else 0
def nvmlDeviceGetPcieReplayCounter(h):
    _replays[h] += 25 if h == 1 else 0  # GPU 1's link keeps replaying
    return _replays[h]
'''


def test_pynvml_path(tmp_path: Path) -> None:
    lib = tmp_path / "pylib"
    lib.mkdir()
    (lib / "pynvml.py").write_text(FAKE_PYNVML)
    env = probe_env(tmp_path / "bin")
    env["PYTHONPATH"] = str(lib)
    gpu = run_probe(quiet_options(tmp_path, use_pynvml=True), env)["gpu"]
    assert (gpu["source"], gpu["driver_version"], gpu["cuda_version"], gpu["error"]) == ("pynvml", "550.90.07", "12.4", None)
    d0, d1 = gpu["devices"]
    assert (d0["pci"], d0["memory_total_mib"], d0["ecc_mode"], d0["temperature_c"]) == ("00000000:19:00.0", 81559, "Enabled", 35.0)
    assert (d0["nvlink_links_total"], d0["nvlink_links_active"]) == (18, 18)
    assert (d1["nvlink_links_total"], d1["nvlink_links_active"]) == (18, 16)
    assert (d1["ecc_uncorrected_aggregate"], d1["remapped_rows_pending"], d1["retired_pages_count"]) == (3, True, None)
    assert d0["persistence_mode"] is True and d0["mig_mode"] == "Disabled"
    assert (d0["sram_threshold_exceeded"], d1["sram_threshold_exceeded"]) == (False, True)
    assert (d0["architecture"], d0["vbios_version"], d0["performance_state"], d0["remap_histogram"]["max"]) == ("Hopper", "96.00.74.00.0D", "P0", 2560)
    assert (d0["clock_event_reasons"], d1["clock_event_reasons"]) == (["gpu_idle"], ["hw_slowdown", "hw_power_brake_slowdown"])
    assert (d1["clocks_sm_mhz"], d1["clocks_max_sm_mhz"]) == (86, 1980)
    assert (d0["fabric_state"], d0["fabric_status"], d0["fabric_clique_id"]) == ("Completed", "Success", "7")
    assert d0["fabric_cluster_uuid"] == "00010203-0405-0607-0809-0a0b0c0d0e0f" and d1["fabric_state"] == "In Progress"
    assert d0["nvlink_errors"] == {"replay": 0, "recovery": 0, "crc": 18}  # CRC flit 1 per link x 18 links
    # one NVML session, two reads: GPU 1's replay counter grew, GPU 0's did not
    assert (d0["pcie_replays"], d0["pcie_replays_later"]) == (10, 10) and (d1["pcie_replays"], d1["pcie_replays_later"]) == (35, 60)


def test_pynvml_init_failure_falls_back_to_nvidia_smi(tmp_path: Path) -> None:
    lib = tmp_path / "pylib"
    lib.mkdir()
    (lib / "pynvml.py").write_text("class NVMLError_LibraryNotFound(Exception): pass\n"
                                   "def nvmlInit():\n    raise NVMLError_LibraryNotFound('NVML Shared Library Not Found')\n")
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, text=fixture("nvidia-smi/nvidia-smi-q_titan-v-1gpu_drv560.35.03.txt"))
    env = probe_env(bin_dir)
    env["PYTHONPATH"] = str(lib)
    gpu = run_probe(quiet_options(tmp_path, use_pynvml=True), env)["gpu"]
    assert gpu["source"] == "nvidia-smi-text" and gpu["devices"][0]["name"] == "NVIDIA TITAN V"
    assert any("NVML Shared Library Not Found" in n for n in gpu["notes"])
