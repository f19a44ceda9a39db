"""System, storage and node-local network judges: table tests over probe-shaped facts, plus
this machine's real facts (the probe run for real once per module)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from policies.thresholds import Threshold
from tests.checks.facts import ctx
from tests.probe.helpers import probe_env, quiet_options, run_probe
from validators.checks import network_local, storage, system


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("probe")
    return run_probe(quiet_options(tmp), probe_env(tmp / "bin"))


def base() -> dict[str, Any]:
    return {
        "errors": {},
        "system": {"cpu_physical_cores": 16, "cpu_logical": 32, "memory_gib": 62.8, "memory_installed_gib": 64.0,
                   "clock_synced": True, "clock_source": "adjtimex", "python": "3.10.12",
                   "data_stack": {"numpy": True, "pandas": True, "pyarrow": True, "torch": False}},
        "nics": [
            {"name": "lo", "type": 772, "mtu": 65536, "operstate": "unknown", "speed_mbps": None, "virtual": True, "default_route": False},
            {"name": "docker0", "type": 1, "mtu": 1500, "operstate": "up", "speed_mbps": 10000, "virtual": True, "default_route": False},
            {"name": "ens5", "type": 1, "mtu": 9001, "operstate": "up", "speed_mbps": None, "virtual": False, "default_route": True},
            {"name": "ens6", "type": 1, "mtu": 9001, "operstate": "up", "speed_mbps": 100000, "virtual": False, "default_route": False},
        ],
        "rdma": {"source": "sysfs", "devices": [], "efa": {"present": False, "providers": 0, "domains": [], "source": None}},
        "mounts": [
            {"path": "/", "fs": "ext4", "free_gib": 40.0, "total_gib": 100.0, "read_only": False},
            {"path": "/opt/dlami/nvme", "fs": "xfs", "free_gib": 3400.0, "total_gib": 3500.0, "read_only": False},
            {"path": "/snap/core", "fs": "ext4", "free_gib": 9000.0, "total_gib": 9000.0, "read_only": True},
        ],
        "disk": {"path": "/tmp", "tool": "fio", "write_mb_s": 1800.0, "read_mb_s": 2500.0, "bytes": 64 * 2**20, "error": None, "notes": []},
        "object_store": {"endpoint": "https://s3.us-east-1.amazonaws.com", "reachable": True, "connect_ms": 1.1, "latency_ms": 4.2, "error": None},
    }


def changed(path: str, value: Any) -> dict[str, Any]:
    facts = copy.deepcopy(base())
    node: Any = facts
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    if isinstance(node, list):
        node[int(keys[-1])] = value
    else:
        node[keys[-1]] = value
    return facts


# -- system ------------------------------------------------------------------------------------

@pytest.mark.parametrize("facts,status", [
    (base(), "pass"), (changed("system.cpu_physical_cores", 8), "pass"), (changed("system.cpu_physical_cores", 4), "fail"),
    (changed("system.cpu_physical_cores", None), "error"), ({"errors": {"system": "boom"}, "system": None}, "error"),
])
def test_cpu_cores(facts: dict, status: str) -> None:
    assert system.cpu_cores(facts, Threshold(min=8, unit="cores"), ctx()).status == status


def test_memory_uses_installed_size() -> None:
    t = Threshold(min=64, unit="GiB")
    r = system.memory(base(), t, ctx())
    assert r.status == "warn" and r.measured == 64.0 and "installed memory" in r.message  # at the floor: no headroom
    assert system.memory(changed("system.memory_installed_gib", None), t, ctx()).status == "fail"  # MemTotal 62.8 only
    assert system.memory(changed("system.memory_installed_gib", 128), t, ctx()).status == "pass"


@pytest.mark.parametrize("synced,status", [(True, "pass"), (False, "fail"), (None, "error")])
def test_clock_sync(synced: bool | None, status: str) -> None:
    r = system.clock_sync(changed("system.clock_synced", synced), Threshold(expect=True), ctx())
    assert r.status == status


def test_data_stack() -> None:
    t = Threshold(expect=True)
    ok = system.data_stack(base(), t, ctx())
    assert ok.status == "pass" and "numpy, pandas, pyarrow" in ok.message
    missing = system.data_stack(changed("system.data_stack", {"numpy": True, "pandas": False, "pyarrow": False, "torch": True}), t, ctx())
    assert missing.status == "fail" and "cannot import pandas, pyarrow" in missing.message and "pip install pandas pyarrow" in (missing.remediation or "")


def test_system_on_this_machine(real: dict) -> None:
    r = system.cpu_cores(real, Threshold(min=1024, unit="cores"), ctx())
    assert r.status == "fail" and r.measured == real["system"]["cpu_physical_cores"]
    assert system.clock_sync(real, Threshold(expect=True), ctx()).status in ("pass", "fail", "error")


# -- storage ---------------------------------------------------------------------------------------

def test_free_space_uses_largest_writable_mount() -> None:
    r = storage.free_space(base(), Threshold(min=200, unit="GiB"), ctx())
    assert r.status == "pass" and "/opt/dlami/nvme" in r.message and r.measured == 3400.0
    small = storage.free_space(changed("mounts", base()["mounts"][:1]), Threshold(min=200, unit="GiB"), ctx())
    assert small.status == "fail" and "free space on / (ext4" in small.message
    assert storage.free_space(changed("mounts", []), Threshold(min=1), ctx()).status == "error"


@pytest.mark.parametrize("write,read,status", [(1800, 2500, "pass"), (1020, 2500, "warn"), (300, 2500, "fail"), (None, None, "error")])
def test_disk_throughput_bounded_by_slower_direction(write: float | None, read: float | None, status: str) -> None:
    facts = changed("disk.write_mb_s", write)
    facts["disk"]["read_mb_s"] = read
    assert storage.disk_throughput(facts, Threshold(min=1000, unit="MB/s"), ctx()).status == status


def test_disk_error_and_cache_note() -> None:
    err = storage.disk_throughput(changed("disk.error", "/data is not a writable directory"), Threshold(min=1), ctx())
    assert err.status == "error" and "not a writable directory" in err.message
    noted = changed("disk.notes", ["O_DIRECT unsupported: page cache dropped with fadvise; read may still be cached on tmpfs/overlay"])
    assert "read may still be cached" in storage.disk_throughput(noted, Threshold(min=1), ctx()).message


def test_disk_throughput_on_this_machine(real: dict) -> None:
    r = storage.disk_throughput(real, Threshold(min=1, unit="MB/s"), ctx())
    assert r.status in ("pass", "warn") and r.measured > 1


@pytest.mark.parametrize("store,status", [
    (base()["object_store"], "pass"),
    ({**base()["object_store"], "latency_ms": 48.0}, "warn"),
    ({**base()["object_store"], "latency_ms": 120.0}, "fail"),
    ({**base()["object_store"], "reachable": False, "latency_ms": None, "error": "TCP connect failed: refused"}, "fail"),
    (None, "skip"),
])
def test_object_store_latency(store: dict | None, status: str) -> None:
    r = storage.object_store_latency(changed("object_store", store), Threshold(max=50, unit="ms"), ctx())
    assert r.status == status
    if store and not store["reachable"]:
        assert "unreachable: TCP connect failed" in r.message


# -- network (local) --------------------------------------------------------------------------------

def _primary_name(nics: list[dict[str, Any]]) -> str | None:
    nic = network_local.primary_nic(nics)
    return None if nic is None else nic["name"]


def test_primary_nic_prefers_default_route_then_physical_then_speed() -> None:
    assert _primary_name(base()["nics"]) == "ens5"
    no_route = [dict(n, default_route=False) for n in base()["nics"]]
    assert _primary_name(no_route) == "ens6"  # physical and fastest
    veth_only = [n for n in base()["nics"] if n["name"] in ("lo", "docker0")]
    assert _primary_name(veth_only) == "docker0"  # inside a namespace, the veth IS the network
    assert network_local.primary_nic([base()["nics"][0]]) is None


def test_nic_speed() -> None:
    t = Threshold(min=10, unit="Gbps")
    assert network_local.nic_speed(base(), t, ctx()).status == "skip"  # ENA reports no speed
    fast = changed("nics.2.speed_mbps", 100000)
    assert network_local.nic_speed(fast, t, ctx()).measured == 100.0
    slow = network_local.nic_speed(changed("nics.2.speed_mbps", 1000), t, ctx())
    assert slow.status == "fail" and slow.measured == 1.0


def _ib(name: str, *states: str) -> dict:
    return {"name": name, "driver": "mlx5_core", "ports": [{"port": i + 1, "state": s, "rate_gbps": 400.0, "link_layer": "InfiniBand"} for i, s in enumerate(states)]}


def test_rdma() -> None:
    t = Threshold(min=1, unit="devices")
    none = network_local.rdma(base(), t, ctx())
    assert none.status == "fail" and "no /sys/class/infiniband devices" in none.message
    ib = changed("rdma.devices", [_ib(f"mlx5_{i}", "ACTIVE") for i in range(8)])
    assert network_local.rdma(ib, t, ctx()).status == "pass"
    some_down = changed("rdma.devices", [_ib("mlx5_0", "ACTIVE"), _ib("mlx5_1", "DOWN")])
    r = network_local.rdma(some_down, t, ctx())
    assert r.status == "warn" and "mlx5_1 port 1 DOWN" in r.message
    efa = changed("rdma.efa", {"present": True, "providers": 4, "domains": [], "source": "fi_info"})
    p5 = network_local.rdma(efa, t, ctx(instance_type="p5.48xlarge"))
    assert p5.status == "fail" and p5.message.startswith("4 active RDMA/EFA devices, expected 32 (p5.48xlarge catalogue")
    assert network_local.rdma(efa, t, ctx(instance_type="p4d.24xlarge")).status == "pass"
    assert network_local.rdma(base(), Threshold(unit="devices"), ctx()).status == "skip"
    assert network_local.rdma({"errors": {"rdma": "PermissionError"}, "rdma": None}, t, ctx()).status == "error"


def test_rdma_from_parsed_ibstat() -> None:
    from tests.probe.helpers import fixture_text
    from validators.probe.parsers import parse_ibstat

    devices = parse_ibstat(fixture_text("ibverbs/ibstat_h100-node_12hca_some-down-2ports.txt"))
    r = network_local.rdma(changed("rdma.devices", devices), Threshold(min=8, unit="devices"), ctx())
    assert r.status == "warn" and r.measured == 10 and r.message.count(" DOWN") == 2


def test_real_mounts_free_space(real: dict, tmp_path: Path) -> None:
    r = storage.free_space(real, Threshold(min=0.001, unit="GiB"), ctx())
    assert r.status == "pass" and r.measured > 0
