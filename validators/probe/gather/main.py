"""The probe's entry point on the node: run every family's gatherer, print ONE JSON object.

Each family module (``system.py``, ``gpu.py`` …) has ``SECTION`` (its key in the facts),
``DEFAULT`` (the value when the gatherer fails) and ``gather(opts)``. A gatherer that raises
lands in ``facts["errors"][SECTION]`` with the reason and the others still run: the probe never
crashes and never prints anything but JSON on stdout (diagnostics go to stderr).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any, Dict, List, Optional

from . import disk, gpu, mounts, nics, object_store, rdma, software, system, xid
from ._util import PROBE_VERSION

# the facts' section order; adding a family: one module here with SECTION, DEFAULT, gather(opts)
FAMILIES = (system, gpu, xid, nics, rdma, software, mounts, disk, object_store)

DEFAULT_OPTIONS = {
    "object_store_endpoint": None,
    "disk_path": "/tmp",
    "disk_test_mb": 64,
    "disk_skip_reason": None,
    "use_fio": True,
    "step_timeout_s": 20.0,
    "gpu_sample_window_s": 1.0,
    "use_pynvml": True,
    "kmsg_path": "/dev/kmsg",
    "kernel_log_paths": ["/var/log/kern.log", "/var/log/syslog", "/var/log/messages"],
    "system_log_paths": ["/var/log/syslog", "/var/log/messages"],
    "use_journal": True,
    "host_root": "",
    "fabricmanager_log": "/var/log/fabricmanager.log",
}


def probe(options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    opts = dict(DEFAULT_OPTIONS)
    opts.update(options or {})
    t0 = time.perf_counter()
    facts: Dict[str, Any] = {"probe_version": PROBE_VERSION, "hostname": os.uname()[1], "errors": {}}
    for family in FAMILIES:
        try:
            facts[family.SECTION] = family.gather(opts)
        except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
            facts[family.SECTION] = family.DEFAULT
            facts["errors"][family.SECTION] = f"{exc.__class__.__name__}: {exc}"
    facts["duration_s"] = round(time.perf_counter() - t0, 3)
    return facts


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the `finally` blocks that remove test files


def main(argv: List[str]) -> int:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    try:
        options = json.loads(argv[1]) if len(argv) > 1 and argv[1] else {}
        if not isinstance(options, dict):
            raise TypeError("options must be a JSON object")
    except (ValueError, TypeError) as exc:
        sys.stdout.write(json.dumps({"probe_version": PROBE_VERSION, "errors": {"options": str(exc)}}) + "\n")
        return 2
    facts = probe(options)
    sys.stdout.write(json.dumps(facts, default=str, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0
