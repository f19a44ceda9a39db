"""The node probe run for real, the way a transport runs it (probe_command's argv, the script on
stdin), on this machine and with recorded GPU tools placed first on PATH."""

from __future__ import annotations

import http.server
import os
import socket
import threading
from pathlib import Path

import pytest

from tests.probe.helpers import (
    PY38,
    fake_dmesg,
    fake_nvidia_smi,
    fixture,
    probe_env,
    quiet_options,
    run_probe,
    run_raw,
)
from validators.probe import ProbeError, ProbeOptions, node_script, parse_probe_output, probe_command
from validators.transport.base import CommandResult


def test_argv_needs_no_shell_and_carries_options_as_one_element() -> None:
    argv, stdin = probe_command(ProbeOptions(object_store_endpoint="https://s3.example.com; rm -rf /", disk_test_mb=8))
    assert argv[:2] == ["python3", "-"] and len(argv) == 3
    assert '"disk_test_mb":8' in argv[2] and "rm -rf" in argv[2]  # data in one argv element, never a shell word
    assert stdin == node_script()


def test_this_machine_no_gpu(tmp_path: Path) -> None:
    facts = run_probe(quiet_options(tmp_path), probe_env(tmp_path / "bin"))
    assert facts["errors"] == {}
    assert facts["gpu"]["error"].startswith("no NVIDIA driver") and facts["gpu"]["devices"] == []
    system = facts["system"]
    assert system["cpu_logical"] == os.cpu_count()
    assert 1 <= system["cpu_physical_cores"] <= os.cpu_count()
    assert system["memory_gib"] > 0.5 and system["clock_synced"] in (True, False, None)
    assert any(n["name"] == "lo" and n["type"] == 772 for n in facts["nics"])
    assert any(m["path"] == "/" for m in facts["mounts"]) or facts["mounts"]
    disk = facts["disk"]
    assert disk["tool"] == "builtin" and disk["write_mb_s"] > 0 and disk["read_mb_s"] > 0 and disk["bytes"] == 8 * 2**20
    assert list(tmp_path.glob(".plinth-*")) == []  # test file removed
    assert facts["object_store"] is None
    assert facts["duration_s"] < 10, facts["duration_s"]  # a hang guard, not a benchmark (~0.1 s here without fio)


def test_disk_test_mb_0_writes_nothing_and_says_why(tmp_path: Path) -> None:
    """The controller turns the disk test off (--quick, --disk-test-mb 0, no disk check in the
    profile): the facts keep their shape and carry the reason the judges report."""
    fake_fio = tmp_path / "bin" / "fio"  # a fio that leaves a mark if anything runs it
    fake_fio.parent.mkdir()
    fake_fio.write_text(f"#!/bin/sh\ntouch {tmp_path / 'fio-ran'}\nexit 1\n")
    fake_fio.chmod(0o755)
    opts = quiet_options(tmp_path, disk_test_mb=0, use_fio=True, disk_skip_reason="disk test disabled (--quick)")
    facts = run_probe(opts, probe_env(tmp_path / "bin"))
    disk = facts["disk"]
    assert disk["skipped"] == "disk test disabled (--quick)"
    assert (disk["tool"], disk["write_mb_s"], disk["read_mb_s"], disk["bytes"], disk["error"]) == (None, None, None, 0, None)
    assert "disk" not in facts["errors"] and not (tmp_path / "fio-ran").exists()
    assert list(tmp_path.glob(".plinth-*")) == []
    assert "skipped" not in run_probe(quiet_options(tmp_path), probe_env(tmp_path / "bin"))["disk"]  # 8 MiB: runs


@pytest.mark.skipif(not PY38.exists(), reason="python 3.8 not installed under pyenv")
def test_runs_on_python38(tmp_path: Path) -> None:
    facts = run_probe(quiet_options(tmp_path), probe_env(tmp_path / "bin", python=PY38))
    assert facts["system"]["python"].startswith("3.8.") and facts["errors"] == {}


def test_fio_disk_test_when_present(tmp_path: Path) -> None:
    import shutil

    if shutil.which("fio") is None:
        pytest.skip("fio not installed (make system-deps installs it)")
    facts = run_probe(quiet_options(tmp_path, use_fio=True), probe_env(tmp_path / "bin"))
    disk = facts["disk"]
    assert disk["tool"] == "fio" and disk["write_mb_s"] > 0 and disk["read_mb_s"] > 0, disk
    assert list(tmp_path.glob(".plinth-*")) == []


def test_healthy_8x_h100_through_fake_nvidia_smi(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, text=fixture("nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-8gpu_drv535.161.08.txt"))
    fake_dmesg(bin_dir, fixture("dmesg/dmesg-decode-iso_boot-no-xid_large.txt"))
    facts = run_probe(quiet_options(tmp_path), probe_env(bin_dir))
    gpu = facts["gpu"]
    assert gpu["source"] == "nvidia-smi-text" and gpu["error"] is None and len(gpu["devices"]) == 8
    assert any("-q -x unusable" in n for n in gpu["notes"])
    assert any("nvlink -s" in n for n in gpu["notes"])  # no recorded nvlink output: noted, links unknown
    assert facts["xid"] == {**facts["xid"], "readable": True, "source": "dmesg", "total": 0}


def test_h200_with_nvlink_status(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, text=fixture("nvidia-smi/nvidia-smi-q_h200-sxm-5gpu_drv580.159.03_runpod_uuid-redacted.txt"),
                    nvlink=fixture("nvlink/nvidia-smi-nvlink-status_h200-sxm-5gpu_18links.txt"))
    facts = run_probe(quiet_options(tmp_path), probe_env(bin_dir))
    devs = facts["gpu"]["devices"]
    assert [(d["nvlink_links_total"], d["nvlink_links_active"]) for d in devs] == [(18, 18)] * 5


def test_xml_is_preferred_when_it_works(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, xml=fixture("nvidia-smi/nvidia-smi-q-x_a100-sxm4-40gb-1gpu-MIG-2instances_drv510.47.03.xml"))
    facts = run_probe(quiet_options(tmp_path), probe_env(bin_dir))
    assert facts["gpu"]["source"] == "nvidia-smi-xml" and facts["gpu"]["devices"][0]["mig_mode"] == "Enabled"
    assert not any("nvlink" in n for n in facts["gpu"]["notes"])  # MIG: nvlink not queried


def test_no_driver_message(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, fail_with=fixture("nvidia-smi/nvidia-smi_ERROR_no-driver_couldnt-communicate.txt"))
    facts = run_probe(quiet_options(tmp_path), probe_env(bin_dir))
    assert facts["gpu"]["error"].startswith("no NVIDIA driver: NVIDIA-SMI has failed because it couldn't communicate")


def test_hung_nvidia_smi_times_out_and_probe_finishes(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_nvidia_smi(bin_dir, text=fixture("nvidia-smi/nvidia-smi-q_titan-v-1gpu_drv560.35.03.txt"), sleep_s=30)
    facts = run_probe(quiet_options(tmp_path, step_timeout_s=0.5), probe_env(bin_dir))
    assert "timed out after 0.5 s" in facts["gpu"]["error"]
    assert facts["duration_s"] < 5


def test_xid_faults_via_fake_dmesg(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_dmesg(bin_dir, fixture("xid/dmesg-time-format-iso_xid48-DBE_xid63-row-remap_xid94-contained-ECC_plus-peermem-lines.txt"))
    xid = run_probe(quiet_options(tmp_path), probe_env(bin_dir))["xid"]
    assert xid["readable"] and xid["counts"] == {"48": 1, "63": 1, "94": 9}


def test_kernel_log_unreadable(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_dmesg(bin_dir, denied=True)
    xid = run_probe(quiet_options(tmp_path), probe_env(bin_dir))["xid"]
    assert xid["readable"] is False
    assert xid["error"].startswith("kernel log not readable without root")
    assert "Operation not permitted" in xid["error"] and "no-kmsg" in xid["error"]


def test_kmsg_fallback_reads_a_record_file(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_dmesg(bin_dir, denied=True)
    kmsg = fixture("dmesg/dev-kmsg_nvswitch-open.txt")
    xid = run_probe(quiet_options(tmp_path, kmsg_path=str(kmsg)), probe_env(bin_dir))["xid"]
    assert xid["readable"] and xid["source"] == str(kmsg) and xid["total"] == 0


def test_object_store_reachable_and_unreachable(tmp_path: Path) -> None:
    class Quiet(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self) -> None:
            self.send_response(403)  # what S3 answers without credentials: still reachable
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        store = run_probe(quiet_options(tmp_path, object_store_endpoint=endpoint), probe_env(tmp_path / "bin"))["object_store"]
        assert store["reachable"] and store["http_status"] == 403 and 0 < store["latency_ms"] < 1000, store
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    store = run_probe(quiet_options(tmp_path, object_store_endpoint=f"http://127.0.0.1:{closed}"), probe_env(tmp_path / "bin"))["object_store"]
    assert store["reachable"] is False and "TCP connect to 127.0.0.1" in store["error"] and "refused" in store["error"].lower()


def test_broken_section_is_recorded_not_fatal(tmp_path: Path) -> None:
    facts = run_probe(quiet_options(tmp_path, disk_test_mb="eight"), probe_env(tmp_path / "bin"))  # type: ignore[arg-type]
    assert "disk" in facts["errors"] and "ValueError" in facts["errors"]["disk"]
    assert facts["disk"] is None and facts["system"]["cpu_logical"]


def test_unwritable_disk_path_is_an_error_not_a_crash(tmp_path: Path) -> None:
    facts = run_probe(quiet_options(tmp_path, disk_path=str(tmp_path / "missing")), probe_env(tmp_path / "bin"))
    assert "not a writable directory" in facts["disk"]["error"]


# -- parse_probe_output: why a node has no facts --------------------------------------------

def test_bad_options_json_is_a_probe_error(tmp_path: Path) -> None:
    result = run_raw(quiet_options(tmp_path), probe_env(tmp_path / "bin"), argv_override=["python3", "-", "not json"])
    with pytest.raises(ProbeError, match="rejected its options"):
        parse_probe_output(result)


def test_no_python_on_node(tmp_path: Path) -> None:
    result = CommandResult(127, b"", b"bash: line 1: python3: command not found\n", 0.01)
    with pytest.raises(ProbeError, match="python3 not found on the node"):
        parse_probe_output(result)


def test_truncated_output(tmp_path: Path) -> None:
    full = run_raw(quiet_options(tmp_path), probe_env(tmp_path / "bin"))
    cut = CommandResult(0, full.stdout[: len(full.stdout) // 2], b"", 0.1)
    with pytest.raises(ProbeError, match="truncated"):
        parse_probe_output(cut)


@pytest.mark.parametrize("result,match", [
    (CommandResult(None, b"", b"", 120.0), "timed out after 120.0 s"),
    (CommandResult(1, b"", b"Traceback...\nMemoryError\n", 0.1), r"printed nothing \(exit 1\): MemoryError"),
    (CommandResult(0, b"Welcome to node!\n", b"", 0.1), "not JSON"),
    (CommandResult(0, b"[1, 2]", b"", 0.1), "not a facts object"),
    (CommandResult(0, b'{"probe_version": 99}', b"", 0.1), "probe version 99"),
])
def test_probe_error_reasons(result: CommandResult, match: str) -> None:
    with pytest.raises(ProbeError, match=match):
        parse_probe_output(result)


# -- nothing left behind when the probe is killed --------------------------------------------------

def _dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def test_stale_test_files_of_dead_runs_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / f".plinth-fio-{_dead_pid()}.dat"
    live = tmp_path / f".plinth-disk-{os.getpid()}.dat"  # a running probe's file stays
    stale.write_bytes(b"x")
    live.write_bytes(b"x")
    run_probe(quiet_options(tmp_path), probe_env(tmp_path / "bin"))
    assert not stale.exists() and live.exists()


def test_children_die_with_a_killed_probe(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    from tests.probe.helpers import fake_tool

    bin_dir = tmp_path / "bin"
    pidfile = tmp_path / "child.pid"
    fake_tool(bin_dir, "nvidia-smi", f"echo $$ > {pidfile}\nexec sleep 60\n")
    argv, stdin = probe_command(quiet_options(tmp_path, step_timeout_s=60))
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=probe_env(bin_dir))
    assert proc.stdin is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    deadline = time.monotonic() + 20
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    child = int(pidfile.read_text())
    proc.send_signal(signal.SIGKILL)  # what a transport's timeout does
    proc.wait(10)

    def alive() -> bool:
        try:
            return Path(f"/proc/{child}/stat").read_text().split()[2] != "Z"
        except OSError:
            return False

    deadline = time.monotonic() + 5
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    survived = alive()
    if survived:  # don't leave it running when the test fails
        os.kill(child, signal.SIGKILL)
    assert not survived, "nvidia-smi child outlived the killed probe"
