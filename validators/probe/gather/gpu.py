"""GPU facts: NVML (pynvml) first, then ``nvidia-smi -q -x``, ``-q`` text, ``--query-gpu`` CSV and the
plain ``nvidia-smi`` table; NVLink state, error counters and GPU-pair links; the NVSwitch fabric.

``facts["gpu"]``: shape in ``validators/probe/__init__.py``. A node without a driver is not an
exception: ``error`` says "no NVIDIA driver …" and the judges turn that into one failure. Output
that is cut off or unreadable sets ``incomplete`` with the reason, so the judges say ``error``
instead of judging part of the GPUs.

Counters judged by their growth (PCIe replays, NVLink errors) are read twice, at least
``gpu_sample_window_s`` apart: DCGM's health watches judge the same counters as rates, never as
totals (``DcgmHealthWatch.cpp``: PCIe replays > 8/min warn; NVLink replay/recovery growth fails).
"""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

from ._util import run_cmd

if TYPE_CHECKING:
    from ._nvml import NvmlSession

SECTION = "gpu"
DEFAULT = None

Reader = Tuple[List[str], Callable[[str], Dict[str, Any]]]


def _readers() -> List[Tuple[str, Reader]]:
    """nvidia-smi's layouts, richest first. The parsers are imported here, not at the top: a node
    without a GPU never compiles them (~30 ms of the probe's start-up)."""
    from ._smi import parse_nvidia_smi_text
    from ._smi_csv import QUERY_FIELDS, parse_query_gpu_csv
    from ._smi_table import parse_nvidia_smi_table
    from ._smi_xml import parse_nvidia_smi_xml

    return [
        ("nvidia-smi-xml", (["nvidia-smi", "-q", "-x"], parse_nvidia_smi_xml)),
        ("nvidia-smi-text", (["nvidia-smi", "-q"], parse_nvidia_smi_text)),
        ("nvidia-smi-csv", (["nvidia-smi", "--query-gpu=" + QUERY_FIELDS, "--format=csv"], parse_query_gpu_csv)),
        ("nvidia-smi-table", (["nvidia-smi"], parse_nvidia_smi_table)),
    ]


def _read_smi(base: Dict[str, Any], timeout: float) -> Optional[Reader]:
    """Fill ``base`` from the first nvidia-smi layout that answers; the reader used, or None with
    ``base["error"]`` (no driver, no GPU, hung) or ``base["incomplete"]`` (nothing readable) set."""
    from ._smi import NO_DRIVER_MARKERS, classify_smi_failure

    for source, (argv, parse) in _readers():
        rc, out, err = run_cmd(argv, timeout)
        if rc is None:  # timed out: a hung driver answers no other layout either
            base["error"] = " ".join(argv[1:] or ["nvidia-smi"]) + ": " + err.strip()
            return None
        failed = (out + "\n" + err).strip()
        if rc != 0 and any(m in failed.lower() for m in NO_DRIVER_MARKERS + ("version mismatch", "no devices were found")):
            base["error"] = classify_smi_failure(failed)
            return None
        if rc == 0:
            try:
                parsed = parse(out)
            except (ValueError, SyntaxError) as exc:  # SyntaxError: xml.etree's ParseError on cut-off XML
                base["notes"].append(f"{' '.join(argv)} unusable: {exc.__class__.__name__}: {str(exc)[:120]}")
                continue
            if parsed["devices"]:
                base["notes"].extend(parsed.pop("notes", []))
                base.update(parsed, source=source)
                return argv, parse
            first = next((line.strip() for line in out.splitlines() if line.strip()), "no output")
            base["notes"].append(f"{' '.join(argv)} described no GPU: {first[:120]}")
            continue
        base["notes"].append(f"{' '.join(argv)} unusable (exit {rc}): {failed.splitlines()[0][:160] if failed else 'no output'}")
    # the driver answered, but nothing it printed could be read: the GPUs are unknown, not absent
    base["incomplete"] = "nvidia-smi answered in no readable layout (-q -x, -q, --query-gpu, table): " + "; ".join(base["notes"][-4:])
    return None


def _add_nvlink_status(base: Dict[str, Any], timeout: float) -> None:
    from ._nvlink import parse_nvlink_status

    rc, out, err = run_cmd(["nvidia-smi", "nvlink", "-s"], timeout)
    if rc != 0:
        base["notes"].append("nvidia-smi nvlink -s: " + (err or out).strip()[:200])
        return
    links = parse_nvlink_status(out)
    for dev in base["devices"]:
        entry = links.get(dev["index"])
        if entry is not None:
            dev["nvlink_links_total"] = entry["total"]
            dev["nvlink_links_active"] = entry["active"]
            if entry["note"]:
                dev["nvlink_note"] = entry["note"]


def _nvlink_errors(base: Dict[str, Any], timeout: float) -> Optional[Dict[int, Dict[str, Any]]]:
    from ._nvlink import parse_nvlink_errors

    rc, out, err = run_cmd(["nvidia-smi", "nvlink", "-e"], timeout)
    if rc != 0:
        base["notes"].append("nvidia-smi nvlink -e: " + (err or out).strip()[:200])
        return None
    return parse_nvlink_errors(out)


def _topology(timeout: float) -> Dict[str, Any]:
    from ._nvlink import parse_topo_matrix

    rc, out, err = run_cmd(["nvidia-smi", "topo", "-m"], timeout)
    if rc != 0:
        return {"source": "nvidia-smi topo -m", "nvlink": None, "error": (err or out).strip()[:200] or f"exit {rc}"}
    matrix = parse_topo_matrix(out)
    return {"source": "nvidia-smi topo -m", "error": None,
            "nvlink": {str(g): {str(p): n for p, n in peers.items()} for g, peers in matrix.items()}}


def _check_complete(base: Dict[str, Any]) -> None:
    attached = base.get("attached_gpus")
    if isinstance(attached, int) and attached > len(base["devices"]):
        base["incomplete"] = (f"{base['source']} reported {attached} attached GPUs but described "
                              f"{len(base['devices'])} (output cut off?)")


def _errors_by_index(parsed: Optional[Dict[int, Dict[str, Any]]]) -> Dict[int, Dict[str, int]]:
    out = {}
    for index, entry in (parsed or {}).items():
        kinds = {k: entry[k] for k in ("replay", "recovery", "crc") if entry.get(k) is not None}
        if kinds:
            out[index] = {k: kinds.get(k, 0) for k in ("replay", "recovery", "crc")}
    return out


def gather(opts: Dict[str, Any]) -> Dict[str, Any]:
    timeout = float(opts["step_timeout_s"])
    base: Dict[str, Any] = {"source": None, "error": None, "driver_version": None, "cuda_version": None, "devices": [],
                            "notes": [], "fabric": None, "topology": None, "sample_window_s": None}
    session: Optional[NvmlSession] = None
    reader: Optional[Reader] = None
    if opts.get("use_pynvml", True):
        try:
            import pynvml  # type: ignore  # noqa: F401 - is the optional binding there at all? (cheap when not)
        except ImportError:
            base["notes"].append("pynvml not importable")
        else:
            from ._nvml import NvmlSession

            session = NvmlSession()
            try:
                session.open()
                base.update(session.read(), source="pynvml")
            except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound / DriverNotLoaded: try nvidia-smi
                base["notes"].append(f"pynvml: {exc.__class__.__name__}: {exc}")
                session.close()
                session = None
    try:
        if session is None:
            if shutil.which("nvidia-smi") is None:
                base["error"] = "no NVIDIA driver (nvidia-smi not found on PATH)"
                return base
            reader = _read_smi(base, timeout)
            if reader is None:
                return base
        first_sample = time.monotonic()
        _check_complete(base)
        devices = base["devices"]
        if session is None and any(d["nvlink_links_total"] is None and d["mig_mode"] != "Enabled" for d in devices):
            _add_nvlink_status(base, timeout)
        linked = any((d["nvlink_links_total"] or 0) > 0 for d in devices)
        errors_first = _errors_by_index(_nvlink_errors(base, timeout)) if session is None and linked else {}
        for dev in devices:
            if dev["index"] in errors_first:
                dev["nvlink_errors"] = errors_first[dev["index"]]
        from ._fabric import read_fabric

        base["fabric"] = read_fabric(opts, timeout)
        if linked or base["fabric"]["nvswitches"]:
            base["topology"] = _topology(timeout)
        _second_sample(base, opts, session, reader, first_sample, timeout, linked)
        return base
    finally:
        if session is not None:
            session.close()


def _second_sample(base: Dict[str, Any], opts: Dict[str, Any], session: Optional[NvmlSession], reader: Optional[Reader],
                   first_sample: float, timeout: float, linked: bool) -> None:
    """Read the growth-judged counters again, at least gpu_sample_window_s after the first read."""
    devices = base["devices"]
    if not any(d["pcie_replays"] is not None or d["nvlink_errors"] is not None for d in devices):
        return
    wait = float(opts.get("gpu_sample_window_s", 1.0)) - (time.monotonic() - first_sample)
    if wait > 0:
        time.sleep(wait)
    if session is not None:
        later = dict(enumerate(session.sample()))
        replays = {i: c["pcie_replays"] for i, c in later.items()}
        errors = {i: c["nvlink_errors"] for i, c in later.items() if c["nvlink_errors"] is not None}
    elif reader is not None:
        argv, parse = reader
        rc, out, _ = run_cmd(argv, timeout)
        try:
            again = parse(out)["devices"] if rc == 0 else []
        except (ValueError, SyntaxError):
            again = []
        replays = {d["index"]: d["pcie_replays"] for d in again}
        errors = _errors_by_index(_nvlink_errors(base, timeout)) if linked else {}
        if rc != 0 or not again:
            base["notes"].append(f"second {' '.join(argv)} read failed: PCIe replay growth unknown")
    else:
        return
    base["sample_window_s"] = round(time.monotonic() - first_sample, 2)
    for dev in devices:
        dev["pcie_replays_later"] = replays.get(dev["index"])
        dev["nvlink_errors_later"] = errors.get(dev["index"])
