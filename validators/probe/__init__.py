"""The probe: what runs on a node, and how its answer comes back.

The node side lives in ``gather/``, one module per family of facts (stdlib only, Python 3.8+);
``assemble.py`` bundles it into one script that is streamed to the node on stdin and run as
``python3 - '<options json>'``: no file is copied, nothing is installed, one round trip returns
every fact as one JSON object. The runner does::

    argv, stdin = probe_command(ProbeOptions(object_store_endpoint=...))
    facts = parse_probe_output(transport.run(argv, stdin=stdin, timeout=...))

argv needs no shell (the SSH transport ``shlex.join``\\ s it; the options travel as one argv element).

FACTS (keys are a contract with the judges in ``validators.checks``; add keys, don't rename)::

    {
     "probe_version": 1, "hostname": str, "duration_s": float,
     "system": {"cpu_physical_cores": int, "cpu_logical": int, "memory_gib": float (MemTotal),
                "memory_installed_gib": float|null (online memory blocks), "kernel": str, "os": str,
                "clock_synced": bool|null, "clock_source": "adjtimex"|"timedatectl"|"systemd-timesyncd"|"chronyc"|null,
                "python": str, "data_stack": {"numpy": bool, "pandas": bool, "pyarrow": bool, "torch": bool},
                "is_root": bool,
                "platform": {"kind": "aws"|"azure"|"gcp"|"oci"|"cloud-other"|"bare-metal"|"unknown",
                             "sys_vendor", "product_name", "board_vendor", "bios_vendor": str|null (DMI),
                             "hypervisor": bool|null (x86 CPU flag), "instance_type": str|null (EC2, from DMI)}},
     "gpu": {"source": "pynvml"|"nvidia-smi-xml"|"nvidia-smi-text"|"nvidia-smi-csv"|"nvidia-smi-table"|null,
             "error": str|null ("no NVIDIA driver …"), "incomplete"?: str (output cut off or unreadable: the GPUs are unknown),
             "driver_version": str|null, "cuda_version": str|null, "attached_gpus": int|null, "notes": [str],
             "sample_window_s": float|null (seconds between the two reads of the growth-judged counters),
             "fabric": {"nvswitches": int|null, "fm_running": bool|null, "fm_systemd": str|null, "fm_version": str|null,
                        "fm_log": {"path", "version", "started", "nonfatal_errors", "fatal_errors", "other_errors",
                                   "errors_before_start", "error_lines"}|null, "notes": [str]}|null,
             "topology": {"source", "error", "nvlink": {"<gpu>": {"<peer gpu>": links}}|null}|null (nvidia-smi topo -m),
             "devices": [{"index", "name", "uuid", "pci", "memory_total_mib", "architecture", "vbios_version",
                          "ecc_mode": "Enabled"|"Disabled"|null,
                          "ecc_uncorrected_volatile", "ecc_uncorrected_aggregate": int|null,
                          "sram_threshold_exceeded": bool|null (Hopper+: NVIDIA's field-diag SRAM error threshold passed),
                          "retired_pages_pending": bool|null, "retired_pages_count", "retired_pages_sbe", "retired_pages_dbe": int|null,
                          "remapped_rows_failure", "remapped_rows_pending": bool|null,
                          "remapped_rows_uncorrectable", "remapped_rows_correctable": int|null,
                          "remap_histogram": {"max", "high", "partial", "low", "none": int}|null,
                          "temperature_c": float|null, "persistence_mode": bool|null,
                          "pcie_gen_current", "pcie_gen_max", "pcie_width_current", "pcie_width_max": int|null,
                          "pcie_replays", "pcie_replays_later": int|null (first and second read),
                          "performance_state": str|null, "utilization_gpu_pct": int|null,
                          "clock_event_reasons": [str]|null ("gpu_idle", "sw_power_cap", "hw_slowdown", …; [] none active),
                          "clocks_sm_mhz", "clocks_max_sm_mhz": int|null,
                          "nvlink_links_total", "nvlink_links_active": int|null (total 0: no NVLink), "nvlink_note"?: str,
                          "nvlink_errors", "nvlink_errors_later": {"replay", "recovery", "crc": int}|null (summed over links),
                          "fabric_state", "fabric_status", "fabric_clique_id", "fabric_cluster_uuid": str|null,
                          "mig_mode": str|null}]},
     "xid": {"readable": bool, "source": "dmesg"|"/dev/kmsg"|"journalctl -k -b 0"|<log file>|null, "error": str|null,
             "since_boot": bool (false: a log file spanning boots, older lines dropped), "boot_time": float|null (btime),
             "now": float (the node's clock at probe time: windows are applied against it),
             "total": int, "counts": {"<xid>": n} (this boot), "before_boot": int (lines of earlier boots not counted),
             "events": [{"xid": int, "pci": str, "ts": float|null, "line": str, "gpu_instance"?, "compute_instance"?: int (MIG),
                         "recovery_action"?: int, "recovery_text"?: str (Xid 154)}] (the newest 10 per code),
             "sxid_counts": {"<sxid>": n}, "sxid_events": [{"sxid", "pci", "switch", "fatal": bool|null, "ts", "line"}],
             "nvswitches": int|null (/proc/driver/nvidia-nvswitch/devices; null: no NVSwitch driver)},
     "nics": [{"name", "speed_mbps": int|null, "mtu": int, "operstate": str, "address": str|null,
               "type": int (1 ether, 32 infiniband, 772 loopback), "virtual": bool, "default_route": bool}],
     "rdma": {"source": "sysfs"|"ibstat"|null, "error": str|null (ibstat failed or stopped part-way: the listing is incomplete),
              "devices": [{"name", "driver": str|null, "hca_type", "board_id", "fw_ver": str|null, "netdevs": [str],
                           "ports": [{"port", "state": "ACTIVE"|…, "phys_state": "LinkUp"|"Polling"|"Disabled"|…,
                                      "rate_gbps": float|null, "width": "4X"|…|null, "speed": "NDR"|…|null, "link_layer",
                                      "counters": {"symbol_error": int, …} (PMA port counters),
                                      "hw_counters"?: {"rx_drops", "retrans_timeout_events"} (EFA)}]}],
              "efa": {"present": bool, "providers": int, "domains": [str], "source": "fi_info"|"sysfs"|null, "fi_info_error"?: str},
              "flaps": null (no IPoIB/RoCE interface) | {"counts": {"<iface>": n}, "events": [{"iface", "ts", "line"}],
                        "before_boot": int, "sources": [str], "since_boot": bool, "error": str|null, "interfaces": [str],
                        "now": float, "boot_time": float|null}},
     "software": {"modules": {"nvidia_peermem", "efa_nv_peermem", "gdrdrv", "efa", "ib_uverbs", …: bool},
                  "memory_peers": bool, "nvidia_kernel_module": "open"|"proprietary"|null, "uverbs_devices": int,
                  "gdrcopy_installed": bool, "memlock": {"soft", "hard": int|null (null: unlimited), "user": str|null},
                  "containers": {"engines": ["containerd"|"docker"|"cri-o"], "toolkit": {binary: path},
                                 "containerd_configs": [str], "containerd_nvidia", "crio_nvidia", "docker_nvidia": bool|null,
                                 "cdi_specs": [str]},
                  "peermem_errors": {"count": int|null, "sample": str|null}},
     "mounts": [{"path", "fs", "device", "remote": bool, "total_gib", "free_gib", "read_only": bool}],
     "disk": {"path", "tool": "fio"|"builtin"|null, "write_mb_s": float|null, "read_mb_s": float|null (MB = 10^6 B),
              "bytes": int, "direct": bool, "error": str|null, "notes": [str],
              "skipped"?: str (present only when the test was not run on purpose: disk_test_mb 0; why)},
     "object_store": {"endpoint", "reachable": bool, "connect_ms": float|null, "latency_ms": float|null,
                      "http_status": int|null, "error": str|null} | null (no endpoint given),
     "errors": {"<section>": "<reason>"},  # a section that could not be gathered; its judges say error
     # added on the controller, not by the probe: "pairwise" (the runner's network rounds) and, for the
     # fleet judges only, "expect" (the inventory's expect:, validators/judging.fleet_facts)
    }

Added after the probe by the runner, not by the probe: "pairwise" (validators/network) and
"fabric" (the active fabric tests: validators/fabric/phase.py documents it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from validators.probe.assemble import payload
from validators.transport.base import CommandResult

PROBE_VERSION = 1


class ProbeError(Exception):
    """The probe ran but its answer is unusable (no python3, killed, truncated, not JSON).
    ``str(exc)`` is the one-line reason the report shows for the node."""


@dataclass(frozen=True)
class ProbeOptions:
    object_store_endpoint: str | None = None
    disk_path: str = "/tmp"
    disk_test_mb: int = 64  # 0: no disk test; facts["disk"]["skipped"] says disk_skip_reason
    disk_skip_reason: str | None = None
    use_fio: bool = True
    step_timeout_s: float = 20.0
    # GPU counters judged by their growth (PCIe replays, NVLink errors) are read twice, this far apart
    gpu_sample_window_s: float = 1.0
    # below: not needed by the runner; tests use them to make the node's environment deterministic
    use_pynvml: bool = True
    kmsg_path: str = "/dev/kmsg"
    kernel_log_paths: tuple[str, ...] = field(default=("/var/log/kern.log", "/var/log/syslog", "/var/log/messages"))
    system_log_paths: tuple[str, ...] = field(default=("/var/log/syslog", "/var/log/messages"))  # daemons' carrier messages
    use_journal: bool = True  # journalctl as a fallback kernel log (-k -b 0) and for daemons' messages (-b 0)
    host_root: str = ""  # prefix of the host's /sys, /proc, /etc … read by the rdma and software gatherers
    fabricmanager_log: str = "/var/log/fabricmanager.log"


def node_script() -> bytes:
    """The script the node runs (assembled once per process from ``gather/``)."""
    return payload()


def probe_command(opts: ProbeOptions) -> tuple[list[str], bytes]:
    """(argv, stdin): ``python3 - <options json>`` with the assembled probe on stdin."""
    options = asdict(opts)
    options["kernel_log_paths"] = list(opts.kernel_log_paths)
    options["system_log_paths"] = list(opts.system_log_paths)
    return ["python3", "-", json.dumps(options, separators=(",", ":"), sort_keys=True)], node_script()


def _tail(data: bytes, limit: int = 300) -> str:
    text = data.decode("utf-8", "replace").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else "")[-limit:]


def parse_probe_output(result: CommandResult) -> dict[str, Any]:
    """The facts dict, or :class:`ProbeError` naming why there are none."""
    if result.timed_out:
        return _raise(f"probe timed out after {result.duration_s:.1f} s (a hung nvidia-smi, disk or mount?)")
    stdout = result.stdout.strip()
    if not stdout:
        if result.exit_code == 127 or b"python3" in result.stderr and b"not found" in result.stderr:
            return _raise("python3 not found on the node (the probe needs python3 >= 3.8)")
        detail = _tail(result.stderr) or "no output"
        return _raise(f"probe printed nothing (exit {result.exit_code}): {detail}")
    try:
        facts = json.loads(stdout)
    except RecursionError:  # a hostile node's [[[[…]]]]: json's C scanner gives up, so do we
        return _raise(f"probe output is nested too deep to be facts ({len(stdout)} bytes)")
    except ValueError:
        hint = "truncated" if stdout.startswith(b"{") else "not JSON"
        detail = _tail(result.stderr)
        return _raise(
            f"probe output is {hint} ({len(stdout)} bytes, exit {result.exit_code})" + (f": {detail}" if detail else "")
        )
    problem = facts_problem(facts)
    if problem:
        return _raise(problem)
    if result.exit_code not in (0, None):
        return _raise(f"probe exited {result.exit_code}: {_tail(result.stderr) or 'no reason given'}")
    facts.setdefault("errors", {})
    return facts


def facts_problem(facts: object) -> str | None:
    """Why ``facts`` (parsed JSON from a probe, or from a facts store) is not a facts object this
    controller can judge; None when it is."""
    if not isinstance(facts, dict) or "probe_version" not in facts:
        return "probe output is JSON but not a facts object (no probe_version)"
    if facts["probe_version"] != PROBE_VERSION:
        return f"probe version {facts['probe_version']!r:.40}, controller expects {PROBE_VERSION}"
    errors = facts.get("errors")
    if errors is not None and not isinstance(errors, dict):
        return "probe output's errors is not an object"
    if errors and "options" in errors:
        return f"probe rejected its options: {errors['options']!s:.300}"
    return None


def _raise(message: str) -> dict[str, Any]:
    raise ProbeError(message)


__all__ = ["PROBE_VERSION", "ProbeError", "ProbeOptions", "facts_problem", "node_script", "parse_probe_output",
           "probe_command"]
