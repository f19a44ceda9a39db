"""Facts for judge tests, built from real recorded outputs through the probe's own parsers."""

from __future__ import annotations

import copy
from typing import Any

from policies.catalogue import instance
from policies.thresholds import Profile, Threshold, get_profile
from tests.probe.helpers import fixture_text
from validators.checks.base import CheckContext
from validators.probe.gather._smi_csv import parse_query_gpu_csv
from validators.probe.parsers import (
    parse_nvidia_smi_table,
    parse_nvidia_smi_text,
    parse_nvidia_smi_xml,
    parse_nvlink_status,
    parse_topo_matrix,
    parse_xid,
)

H100_8 = "nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-8gpu_drv535.161.08.txt"
H200_5 = "nvidia-smi/nvidia-smi-q_h200-sxm-5gpu_drv580.159.03_runpod_uuid-redacted.txt"
RTX4090 = "nvidia-smi/nvidia-smi-q_rtx4090-8gpu_drv535.154.05.txt"
TITAN_V = "nvidia-smi/nvidia-smi-q_titan-v-1gpu_drv560.35.03.txt"
MIG_TEXT = "nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-1gpu-MIG-enabled_drv590.48.01_idle.txt"
RETIRED_OK = "nvidia-smi/nvidia-smi-q-d-page-retirement_a100-8gpu_azure-ndv4.txt"
RETIRED_BAD = "nvidia-smi/nvidia-smi-q-d-page-retirement_a100-8gpu_azure-ndv4_ecc-retired-pages-EDITED.txt"
A100_XML = "nvidia-smi/nvidia-smi-q-x_a100-sxm4-40gb-1gpu-MIG-2instances_drv510.47.03.xml"
XID_ECC = "xid/dmesg-time-format-iso_xid48-DBE_xid63-row-remap_xid94-contained-ECC_plus-peermem-lines.txt"
XID_APP = "xid/dmesg-decode-iso_xid13-xid43_8gpu-node.txt"
XID_GSP = "xid/dmesg-T_h100-dell-xe9680_xid119-gsp-rpc-timeout.txt"
CLEAN_LOG = "dmesg/dmesg-decode-iso_boot-no-xid_large.txt"


def xid_facts(rel: str = CLEAN_LOG) -> dict[str, Any]:
    return {**parse_xid(fixture_text(rel)), "readable": True, "source": "dmesg", "error": None}


def parse_capture(rel: str) -> dict[str, Any]:
    """A recorded nvidia-smi output through the parser the probe uses for that layout."""
    text = fixture_text(rel)
    if rel.endswith(".xml"):
        return parse_nvidia_smi_xml(text)
    if rel.endswith(".csv") or "-query-gpu" in rel:
        return parse_query_gpu_csv(text)
    if "default-table" in rel:
        return parse_nvidia_smi_table(text)
    return parse_nvidia_smi_text(text)


def gpu_facts(rel: str = H100_8, *, nvlink: str | None = None, xid: str = CLEAN_LOG, topo: str | None = None,
              fabric: dict[str, Any] | None = None, platform: str = "unknown") -> dict[str, Any]:
    """Facts as the probe would send them for a node whose tools printed these recordings. ``fabric``
    stands for what the capture does not show (Fabric Manager's process and log)."""
    parsed = parse_capture(rel)
    parsed.pop("notes", None)
    if nvlink:
        links = parse_nvlink_status(fixture_text(nvlink))
        for dev in parsed["devices"]:
            entry = links.get(dev["index"], {})
            dev["nvlink_links_total"], dev["nvlink_links_active"] = entry.get("total"), entry.get("active")
    topology = None
    if topo:
        matrix = parse_topo_matrix(fixture_text(topo))
        topology = {"source": "nvidia-smi topo -m", "error": None,
                    "nvlink": {str(g): {str(p): n for p, n in peers.items()} for g, peers in matrix.items()}}
    return {
        "probe_version": 1, "errors": {},
        "system": {"platform": {"kind": platform}},
        "gpu": {"source": "nvidia-smi-text", "error": None, "notes": [], "fabric": fabric, "topology": topology,
                "sample_window_s": None, **parsed},
        "xid": xid_facts(xid),
    }


def no_driver_facts() -> dict[str, Any]:
    return {
        "probe_version": 1, "errors": {},
        "gpu": {"source": None, "error": "no NVIDIA driver (nvidia-smi not found on PATH)", "devices": [], "notes": []},
        "xid": xid_facts(),
    }


def edit(facts: dict[str, Any], **device_changes: dict[str, Any]) -> dict[str, Any]:
    """A copy with device fields changed: edit(f, d2={"temperature_c": 91})."""
    out = copy.deepcopy(facts)
    for key, changes in device_changes.items():
        out["gpu"]["devices"][int(key[1:])].update(changes)
    return out


def ctx(profile: str | Profile = "distributed_training", *, expect: dict[str, Any] | None = None, instance_type: str | None = None) -> CheckContext:
    prof = get_profile(profile) if isinstance(profile, str) else profile
    return CheckContext(profile=prof, node="gpu-0", expect=expect or {}, instance=instance(instance_type) if instance_type else None)


def profile_with(**thresholds: Threshold) -> Profile:
    return Profile(name="test", description="test", thresholds={k.replace("__", "."): v for k, v in thresholds.items()})
