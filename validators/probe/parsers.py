"""Controller-side access to the probe's pure parsers.

The parsers live in ``node_probe.py`` because that file is what travels to the node (it must be
self-contained); this module re-exports them so controller code and tests can parse recorded
command output (nvidia-smi XML/text, nvlink status, kernel-log Xid lines, fio JSON, fi_info,
ibstat) with exactly the code the node runs.
"""

from __future__ import annotations

from validators.probe.node_probe import (
    classify_smi_failure,
    parse_fi_info,
    parse_fio_json,
    parse_ibstat,
    parse_nvidia_smi_text,
    parse_nvidia_smi_xml,
    parse_nvlink_status,
    parse_xid,
    physical_cores,
)

__all__ = [
    "classify_smi_failure",
    "parse_fi_info",
    "parse_fio_json",
    "parse_ibstat",
    "parse_nvidia_smi_text",
    "parse_nvidia_smi_xml",
    "parse_nvlink_status",
    "parse_xid",
    "physical_cores",
]
