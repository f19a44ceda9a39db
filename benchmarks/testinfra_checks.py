"""The testinfra side of the fan-out comparison: checks equivalent to plinth's quick system and
storage checks, written the way a testinfra user would (one module call, so one remote command, per
fact). Run by benchmarks/tools.py with ``--connection=paramiko --ssh-config=...``; not part of the
test suite (it lives outside tests/ and needs the benchmark's servers).

The assertions are deliberately weak (any machine passes): the figure being measured is how long
gathering the same facts takes, not whether the loopback host is a good GPU node.
"""

from __future__ import annotations

from typing import Any


def test_cpu_cores(host: Any) -> None:
    assert int(host.check_output("nproc")) >= 1


def test_memory(host: Any) -> None:
    assert "MemTotal:" in host.file("/proc/meminfo").content_string


def test_kernel(host: Any) -> None:
    assert host.check_output("uname -r")


def test_python_and_data_stack(host: Any) -> None:
    assert host.run("python3 -V").rc == 0
    host.run("python3 -c 'import numpy, pandas, pyarrow'")  # the verdict is not the point; the round trip is


def test_gpu_driver(host: Any) -> None:
    host.exists("nvidia-smi")


def test_free_space(host: Any) -> None:
    assert host.mount_point("/").exists


def test_nic_mtu(host: Any) -> None:
    assert int(host.file("/sys/class/net/lo/mtu").content_string) > 0


def test_clock_sync(host: Any) -> None:
    host.run("cat /proc/sys/kernel/random/boot_id")  # stands in for a chrony/timesyncd query
