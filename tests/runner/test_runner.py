"""run_fleet against real sshd: a down node costs only itself; interrupts leave a partial report."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from policies.thresholds import get_profile
from tests.support.sshd import SshdHandle, free_port
from validators.checks.base import load_all
from validators.inventory import NodeSpec
from validators.runner import FleetInterrupted, RunOptions, run_fleet
from validators.transport import Transport

PROFILE = get_profile("single_gpu")


def ssh_node(h: SshdHandle, name: str, port: int | None = None) -> NodeSpec:
    return NodeSpec(name=name, host=h.host, port=port or h.port, user=h.user,
                    identity_file=h.client_key_path, known_hosts=h.known_hosts)


def fast_probe() -> Any:
    from validators.probe import ProbeOptions

    return ProbeOptions(disk_test_mb=4, use_fio=False, step_timeout_s=10)


def test_a_down_node_is_error_with_its_reason_and_the_others_finish(sshd_server: SshdHandle) -> None:
    nodes = [ssh_node(sshd_server, "a"), ssh_node(sshd_server, "down", port=free_port()), ssh_node(sshd_server, "b")]
    t0 = time.monotonic()
    report = run_fleet(nodes, PROFILE, RunOptions(network=False, probe_options=fast_probe(), progress=False,
                                                  connect_timeout_s=3))
    assert time.monotonic() - t0 < 30
    by_name = {n.name: n for n in report.nodes}
    assert [n.name for n in report.nodes] == ["a", "down", "b"]  # inventory order, not finish order
    down = by_name["down"]
    assert not down.reachable
    assert {c.status for c in down.checks} == {"error"}
    node_scope = [cid for cid in PROFILE.thresholds if load_all()[cid].scope == "node"]
    assert [c.id for c in down.checks] == node_scope  # every node check of the profile, none dropped
    assert all("unreachable" in c.message and "connection refused" in c.message for c in down.checks)
    for name in ("a", "b"):
        node = by_name[name]
        assert node.reachable
        statuses = {c.id: c.status for c in node.checks}
        assert statuses["storage.free_space"] in {"pass", "warn", "fail"}  # judged from real facts
        assert statuses["network.bandwidth"] == "skip"
        assert "interrupted" not in {c.message for c in node.checks}
    assert report.exit_code == 1
    assert report.summary.errors >= len(down.checks)
    assert report.summary.nodes == 3


def test_probe_failure_keeps_the_node_reachable_but_errors_its_checks(sshd_server: SshdHandle) -> None:
    node = ssh_node(sshd_server, "nopython").model_copy(update={"python": "/nonexistent/python3"})
    report = run_fleet([node], PROFILE, RunOptions(network=False, probe_options=fast_probe(), progress=False))
    n = report.nodes[0]
    assert n.reachable
    assert {c.status for c in n.checks} == {"error"}
    assert "probe failed" in n.checks[0].message


def test_ctrl_c_marks_unfinished_nodes_interrupted_and_keeps_finished_ones() -> None:
    """SIGINT delivered to the main thread (as a terminal's Ctrl-C is) while one node hangs."""
    release = threading.Event()

    class Idle:
        name = "fake"

        def connect(self, timeout: float) -> None: ...

        def run(self, *a: Any, **k: Any) -> Any: ...

        def start(self, *a: Any, **k: Any) -> Any: ...

        def __init__(self, node: str = "") -> None:
            self.node = node

        def close(self) -> None:
            if self.node == "hang":  # like a real connection: closing one node's unblocks only that node
                release.set()  # the runner closes live transports on interrupt: that unblocks the node

    def gather(transport: Transport, node: NodeSpec, timeout: float, opts: RunOptions) -> dict[str, Any]:
        if node.name == "done":
            return {"system": {"cpu_physical_cores": 64}}
        if node.name == "trigger":
            time.sleep(0.3)
            signal.raise_signal(signal.SIGINT)
            return {}
        release.wait(10)
        return {}

    nodes = [NodeSpec(name=n, host="127.0.0.1", transport="local") for n in ("done", "trigger", "hang")]
    opts = RunOptions(network=False, progress=False, gather=gather, transport_factory=lambda n, a: Idle(n.name))
    t0 = time.monotonic()
    with pytest.raises(FleetInterrupted) as info:
        run_fleet(nodes, PROFILE, opts)
    assert time.monotonic() - t0 < 5
    assert info.value.signum == signal.SIGINT
    report = info.value.report
    by_name = {n.name: n for n in report.nodes}
    assert {c.message for c in by_name["hang"].checks} == {"interrupted"}
    assert {c.status for c in by_name["hang"].checks} == {"error"}
    cores = next(c for c in by_name["done"].checks if c.id == "system.cpu_cores")
    assert cores.status == "pass"  # finished before the interrupt: judged as usual
    assert report.exit_code == 1


def test_per_node_budget_bounds_a_slow_probe(sshd_server: SshdHandle, tmp_path: Path) -> None:
    def slow(transport: Transport, node: NodeSpec, timeout: float, opts: RunOptions) -> dict[str, Any]:
        from validators.runner import NodeFailed

        res = transport.run(["sleep", "30"], timeout=timeout)
        if res.timed_out:
            raise NodeFailed(f"probe timed out after {timeout:.0f}s")
        return {}

    t0 = time.monotonic()
    report = run_fleet([ssh_node(sshd_server, "slow")], PROFILE,
                       RunOptions(network=False, progress=False, gather=slow, node_timeout_s=2))
    assert time.monotonic() - t0 < 6
    assert "timed out" in report.nodes[0].checks[0].message
