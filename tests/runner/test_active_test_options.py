"""--quick, --disk-test-mb and the profile rule: the active tests (pairwise rounds, the disk
test) run only when asked for and needed; a test not run is `skip` with the reason, never error."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from policies.errors import ConfigError
from policies.thresholds import get_profile
from tests.support.sshd import SshdHandle
from validators.cli import app
from validators.commands import active_tests
from validators.inventory import NodeSpec
from validators.probe import ProbeOptions
from validators.results import Report
from validators.runner import RunOptions, probe_facts, run_fleet
from validators.transport import Transport

runner = CliRunner()


def local_node() -> NodeSpec:
    python = "python3" if shutil.which("python3") else sys.executable
    return NodeSpec(name="here", host="localhost", transport="local", python=python)


def capture_facts(store: dict[str, Any]) -> Any:
    """The real probe (probe_facts), keeping the facts it returned."""
    def gather(transport: Transport, node: NodeSpec, timeout: float, opts: RunOptions) -> dict[str, Any]:
        store[node.name] = probe_facts(transport, node, timeout, opts)
        return store[node.name]

    return gather


def checks_of(report: Report) -> dict[str, Any]:
    return {c.id: c for c in report.nodes[0].checks}


# --- how the flags combine -----------------------------------------------------------------

def test_quick_turns_off_both_active_tests_with_its_own_reasons() -> None:
    t = active_tests(quick=True, network=None, disk_test_mb=None)
    assert (t.network, t.disk_test_mb) == (False, 0)
    assert "--quick" in t.network_off_reason and t.disk_off_reason == "disk test disabled (--quick)"
    assert active_tests(quick=True, network=False, disk_test_mb=0).network is False  # redundant, not contradictory


def test_defaults_and_explicit_values() -> None:
    assert active_tests(False, None, None)[:2] == (True, 64)
    assert active_tests(False, False, 8)[:2] == (False, 8)
    assert active_tests(False, None, 0).disk_off_reason == "disk test disabled (--disk-test-mb 0)"


@pytest.mark.parametrize(("network", "mb", "needle"), [
    (True, None, "drop --network or --quick"),
    (None, 8, "drop --disk-test-mb 8 or --quick"),
])
def test_quick_with_a_test_it_turns_off_is_bad_input(network: bool | None, mb: int | None, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        active_tests(True, network, mb)


def test_a_negative_size_is_bad_input_even_past_the_cli() -> None:
    with pytest.raises(ConfigError, match="--disk-test-mb"):
        active_tests(False, None, -1)


@pytest.mark.parametrize("args", [
    ["validate", "--disk-test-mb", "-1"],
    ["validate", "--disk-test-mb", "lots"],
    ["validate", "--disk-test-mb", "70000"],
    ["validate", "--quick", "--network"],
    ["validate", "--quick", "--disk-test-mb", "16"],
    ["audit", "--disk-test-mb", "-5"],
    ["audit", "--quick", "--disk-test-mb", "1"],
])
def test_bad_values_exit_2_before_any_node_is_contacted(tmp_path: Path, args: list[str]) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("nodes:\n  - {name: a, host: 192.0.2.1}\n")  # TEST-NET: would hang if contacted
    extra = ["-i", str(inv)] if args[0] == "validate" else []
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "disk-test-mb" in result.output or "--quick" in result.output


def test_help_documents_both_options() -> None:
    for command in ("validate", "audit"):
        text = " ".join(runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output.split())
        assert "--disk-test-mb" in text and "0 = no disk test" in text
        assert "--quick" in text and "no pairwise network rounds and no disk test" in text


# --- through the real probe ----------------------------------------------------------------

def test_disk_test_mb_0_skips_the_test_with_the_reason_through_the_local_probe(tmp_path: Path) -> None:
    """`plinth audit --disk-test-mb 0`: the real CLI, the local transport, the real probe."""
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["audit", "--disk-test-mb", "0", "--json", str(out)])
    assert result.exit_code in (0, 1), result.output
    report = Report.model_validate_json(out.read_text())
    disk = checks_of(report)["storage.disk_throughput"]
    assert (disk.status, disk.message) == ("skip", "disk test disabled (--disk-test-mb 0)")
    outlier = next(c for c in report.fleet if c.id == "storage.disk_outlier")
    assert (outlier.status, outlier.message) == ("skip", "disk test disabled (--disk-test-mb 0)")


def test_the_profile_decides_whether_the_disk_test_runs(tmp_path: Path) -> None:
    opts = ProbeOptions(disk_path=str(tmp_path), disk_test_mb=4, use_fio=False, use_pynvml=False, step_timeout_s=10)
    facts: dict[str, Any] = {}
    # real_time_inference has no disk line: no file is written, facts say why
    run_fleet([local_node()], get_profile("real_time_inference"),
              RunOptions(network=False, probe_options=opts, progress=False, gather=capture_facts(facts)))
    disk = facts["here"]["disk"]
    assert disk["tool"] is None and disk["bytes"] == 0 and disk["write_mb_s"] is None
    assert "profile real_time_inference has no storage.disk_throughput" in disk["skipped"]
    # single_gpu checks disk throughput: the same options run the test
    report = run_fleet([local_node()], get_profile("single_gpu"),
                       RunOptions(network=False, probe_options=opts, progress=False, gather=capture_facts(facts)))
    disk = facts["here"]["disk"]
    assert disk["tool"] == "builtin" and disk["bytes"] == 4 * 2**20 and "skipped" not in disk
    assert checks_of(report)["storage.disk_throughput"].status in ("pass", "warn", "fail")
    assert not list(tmp_path.glob(".plinth-*"))  # the test file was removed


def test_quick_on_two_ssh_nodes_runs_no_pairwise_round_and_no_disk_test(
    sshd_server: SshdHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import validators.network

    def no_rounds(*args: object, **kw: object) -> None:
        raise AssertionError("--quick must not start pairwise rounds")

    monkeypatch.setattr(validators.network, "measure_pairs", no_rounds)
    h = sshd_server
    inv = tmp_path / "inv.yaml"
    inv.write_text(yaml.safe_dump({
        "defaults": {"user": h.user, "identity_file": str(h.client_key_path), "known_hosts": str(h.known_hosts)},
        "nodes": [{"name": f"n{i}", "host": h.host, "port": h.port} for i in range(2)],
    }))
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["validate", "-i", str(inv), "-p", "distributed_training", "--quick", "--json", str(out)])
    assert result.exit_code in (0, 1), result.output
    report = Report.model_validate_json(out.read_text())
    assert all(n.reachable for n in report.nodes)
    for node in report.nodes:
        checks = {c.id: c for c in node.checks}
        assert (checks["network.bandwidth"].status, checks["network.bandwidth"].message) == (
            "skip", "pairwise network tests not run (--quick)")
        assert checks["network.latency"].status == "skip"
        assert (checks["storage.disk_throughput"].status, checks["storage.disk_throughput"].message) == (
            "skip", "disk test disabled (--quick)")
        assert "storage.free_space" in checks and checks["storage.free_space"].status != "skip"  # facts still gathered
