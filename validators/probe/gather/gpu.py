"""GPU facts: NVML (pynvml) first, then ``nvidia-smi -q -x``, then ``nvidia-smi -q`` text.

``facts["gpu"]``: shape in ``validators/probe/__init__.py``. A node without a driver is not an
exception: ``error`` says "no NVIDIA driver …" and the judges turn that into one failure.
"""

from __future__ import annotations

import shutil
from typing import Any, Dict

from ._nvlink import parse_nvlink_status
from ._nvml import read_pynvml
from ._smi import NO_DRIVER_MARKERS, classify_smi_failure, parse_nvidia_smi_text, parse_nvidia_smi_xml
from ._util import run_cmd

SECTION = "gpu"
DEFAULT = None


def _add_nvlink(result: Dict[str, Any], timeout: float) -> None:
    rc, out, err = run_cmd(["nvidia-smi", "nvlink", "-s"], timeout)
    if rc != 0:
        result.setdefault("notes", []).append("nvidia-smi nvlink -s: " + (err or out).strip()[:200])
        return
    links = parse_nvlink_status(out)
    for dev in result["devices"]:
        entry = links.get(dev["index"])
        if entry is not None:
            dev["nvlink_links_total"] = entry["total"]
            dev["nvlink_links_active"] = entry["active"]
            if entry["note"]:
                dev["nvlink_note"] = entry["note"]


def gather(opts: Dict[str, Any]) -> Dict[str, Any]:
    timeout = float(opts["step_timeout_s"])
    base: Dict[str, Any] = {"source": None, "error": None, "driver_version": None, "cuda_version": None, "devices": [], "notes": []}
    if opts.get("use_pynvml", True):
        try:
            result = read_pynvml()
            base.update(result, source="pynvml")
            return base
        except ImportError:
            base["notes"].append("pynvml not importable")
        except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound / DriverNotLoaded: try nvidia-smi
            base["notes"].append(f"pynvml: {exc.__class__.__name__}: {exc}")
    if shutil.which("nvidia-smi") is None:
        base["error"] = "no NVIDIA driver (nvidia-smi not found on PATH)"
        return base
    rc, out, err = run_cmd(["nvidia-smi", "-q", "-x"], timeout)
    if rc == 0 and "<nvidia_smi_log" in out:
        base.update(parse_nvidia_smi_xml(out), source="nvidia-smi-xml")
    else:
        if rc is None:
            base["error"] = "nvidia-smi -q -x: " + err.strip()
            return base
        failed = (out + "\n" + err).strip()
        if any(marker in failed.lower() for marker in NO_DRIVER_MARKERS + ("version mismatch",)):
            base["error"] = classify_smi_failure(failed)
            return base
        base["notes"].append(f"nvidia-smi -q -x unusable (exit {rc}), using -q text")
        rc, out, err = run_cmd(["nvidia-smi", "-q"], timeout)
        if rc != 0:
            base["error"] = classify_smi_failure((out + "\n" + err).strip()) if rc is not None else "nvidia-smi -q: " + err.strip()
            return base
        base.update(parse_nvidia_smi_text(out), source="nvidia-smi-text")
    if not base["devices"] and "no devices were found" in out.lower():
        base["notes"].append("nvidia-smi: No devices were found")
    if any(d["nvlink_links_total"] is None and d["mig_mode"] != "Enabled" for d in base["devices"]):
        _add_nvlink(base, timeout)
    return base


# ------------------------------------------------------------------------------------------
# gatherers: kernel log (Xid)
