"""Every check a built-in profile names exists, and the probe-backed judges are registered."""

from __future__ import annotations

import pytest

from policies.thresholds import builtin_profiles
from validators.checks.base import load_all

PROBE_JUDGES = {
    "system.cpu_cores", "system.memory", "system.clock_sync", "system.data_stack",
    "gpu.count", "gpu.model", "gpu.memory", "gpu.ecc_errors", "gpu.retired_pages", "gpu.xid", "gpu.temperature",
    "gpu.persistence_mode", "gpu.pcie_link", "gpu.nvlink", "gpu.row_remapping", "gpu.clock_events", "gpu.nvlink_errors",
    "gpu.fabric",
    "network.mtu", "network.rdma", "network.nic_speed",
    "gpu.sxid", "network.ib_link", "network.ib_errors", "network.ib_flaps", "network.rdma_stack", "network.gpudirect",
    "system.memlock", "system.container_runtime",
    "storage.free_space", "storage.disk_throughput", "storage.object_store_latency",
}


def test_probe_judges_registered_as_node_checks() -> None:
    registry = load_all()
    assert PROBE_JUDGES <= set(registry)
    assert all(registry[i].scope == "node" for i in PROBE_JUDGES)
    assert registry["gpu.versions"].scope == "fleet"


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


def test_a_new_fact_is_one_gatherer_function_judged_through_one_profile_line(tmp_path) -> None:
    """The whole path in docs/validators.md ("Writing a check"): a function added to
    gather/system.py puts a fact on the node's facts, a judge reads it, a profile line runs it."""
    import subprocess

    from policies.thresholds import Profile, Threshold
    from tests.probe.helpers import probe_env, quiet_options
    from validators.checks.base import REGISTRY, CheckContext, check, judge_node
    from validators.checks.compare import at_least
    from validators.probe import parse_probe_output, probe_command
    from validators.probe.assemble import build, sources
    from validators.results import CheckResult
    from validators.transport.base import CommandResult

    srcs = sources()
    anchor = '"platform": read_platform(cpuinfo),'
    assert anchor in srcs["plinth_probe.system"]
    srcs["plinth_probe.system"] = srcs["plinth_probe.system"].replace(anchor, anchor + '\n        "entropy_bits": entropy_bits(),') + (
        "\n\ndef entropy_bits() -> Optional[int]:\n"
        "    return to_int(read_file('/proc/sys/kernel/random/entropy_avail'))\n")
    srcs["plinth_probe.system"] = srcs["plinth_probe.system"].replace("from ._util import ", "from ._util import to_int, ")
    argv, _ = probe_command(quiet_options(tmp_path, disk_test_mb=0))
    proc = subprocess.run(argv, input=build(srcs), env=probe_env(tmp_path / "bin"), capture_output=True, check=False, timeout=60)
    facts = parse_probe_output(CommandResult(proc.returncode, proc.stdout, proc.stderr, 0.0))
    assert facts["errors"] == {} and facts["system"]["entropy_bits"] > 0

    @check("system.test_entropy")
    def entropy(facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
        return at_least("system.test_entropy", facts["system"].get("entropy_bits"), threshold, what="available entropy")

    try:
        floor = facts["system"]["entropy_bits"] + 1  # one more than the node has: must fail
        profile = Profile(name="t", description="t", thresholds={"system.test_entropy": Threshold(min=floor, unit="bits")})
        [result] = judge_node(facts, CheckContext(profile=profile))
        assert (result.status, result.measured) == ("fail", facts["system"]["entropy_bits"])
    finally:
        REGISTRY.pop("system.test_entropy", None)
