"""Every check a built-in profile names exists, and the probe-backed judges are registered."""

from __future__ import annotations

import pytest

from policies.thresholds import builtin_profiles
from validators.checks.base import load_all

PROBE_JUDGES = {
    "system.cpu_cores", "system.memory", "system.clock_sync", "system.data_stack",
    "gpu.count", "gpu.model", "gpu.memory", "gpu.ecc_errors", "gpu.retired_pages", "gpu.xid", "gpu.temperature",
    "gpu.persistence_mode", "gpu.pcie_link", "gpu.nvlink",
    "network.mtu", "network.rdma", "network.nic_speed",
    "storage.free_space", "storage.disk_throughput", "storage.object_store_latency",
}


def test_probe_judges_registered_as_node_checks() -> None:
    registry = load_all()
    assert PROBE_JUDGES <= set(registry)
    assert all(registry[i].scope == "node" for i in PROBE_JUDGES)


@pytest.mark.parametrize("name", sorted(builtin_profiles()))
def test_profile_names_only_known_checks(name: str) -> None:
    unknown = set(builtin_profiles()[name].thresholds) - set(load_all())
    assert not unknown, f"profile {name} names checks plinth does not have: {sorted(unknown)}"
