"""Controller-side access to the probe's pure parsers.

The parsers live with the gatherers in ``validators/probe/gather/`` (that code is what travels to
the node); this module re-exports them so controller code and tests can parse recorded command
output (nvidia-smi XML/text/table, nvlink status and errors, topo -m, fabricmanager.log, kernel-log
Xid lines, fio JSON, fi_info, ibstat) with
exactly the code the node runs.
"""

from __future__ import annotations

from validators.probe.gather._fabric import parse_fabricmanager_log
from validators.probe.gather._nvlink import parse_nvlink_errors, parse_nvlink_status, parse_topo_matrix
from validators.probe.gather._platform import classify_platform
from validators.probe.gather._smi import classify_smi_failure, parse_nvidia_smi_text
from validators.probe.gather._smi_table import parse_nvidia_smi_table
from validators.probe.gather._smi_xml import parse_nvidia_smi_xml
from validators.probe.gather.disk import parse_fio_json
from validators.probe.gather.rdma import parse_fi_info, parse_ibstat
from validators.probe.gather.system import physical_cores
from validators.probe.gather.xid import parse_xid

__all__ = [
    "classify_platform",
    "classify_smi_failure",
    "parse_fabricmanager_log",
    "parse_fi_info",
    "parse_fio_json",
    "parse_ibstat",
    "parse_nvidia_smi_table",
    "parse_nvidia_smi_text",
    "parse_nvidia_smi_xml",
    "parse_nvlink_errors",
    "parse_nvlink_status",
    "parse_topo_matrix",
    "parse_xid",
    "physical_cores",
]
