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


def test_a_new_check_is_one_registered_judge_plus_one_profile_line() -> None:
    """The extension contract in docs/validators.md ("Writing a check"): a judge registered under
    an id runs for a node exactly when the profile has a line for that id."""
    from policies.thresholds import Profile, Threshold
    from validators.checks.base import REGISTRY, CheckContext, check, judge_node
    from validators.checks.compare import at_least
    from validators.results import CheckResult

    @check("system.test_entropy")
    def entropy(facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
        return at_least("system.test_entropy", facts["system"]["entropy"], threshold, what="available entropy",
                        remediation="install rng-tools")

    try:
        facts = {"system": {"entropy": 100}}
        with_line = Profile(name="t", description="t", thresholds={"system.test_entropy": Threshold(min=256, unit="bits")})
        [result] = judge_node(facts, CheckContext(profile=with_line))
        assert (result.id, result.status, result.measured, result.threshold) == ("system.test_entropy", "fail", 100, 256)
        without_line = Profile(name="t", description="t", thresholds={})
        assert judge_node(facts, CheckContext(profile=without_line)) == []
        unknown = Profile(name="t", description="t", thresholds={"system.no_such_check": Threshold(min=1)})
        [missing] = judge_node(facts, CheckContext(profile=unknown))
        assert missing.status == "error" and "does not have" in missing.message
    finally:
        REGISTRY.pop("system.test_entropy", None)
