"""The fault matrix against a real OpenSSH server: one `plinth validate` run over
a fleet where almost every node is broken in its own way, beside two healthy nodes.

For each fault: that node's checks are ``error`` with the reason, within its time bound; the
healthy nodes finish with judged results; the exit code is 1; the report is complete (every node,
every check of the profile). One run for all of them also proves the faults don't interfere."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.support import (
    CliRun,
    NodeDir,
    SilentServer,
    all_errors_with,
    assert_complete,
    fast_probe,
    run_validate,
    ssh_node,
    write_inventory,
)
from tests.support.sshd import SshdHandle, free_port, generate_client_key, generate_host_key, known_hosts_line

pytestmark = pytest.mark.root
PROFILE = "single_gpu"
TIMEOUT = 8  # --timeout: the per-node budget, and so the connect timeout of the mute node
STEP = 2.0  # probe step budget (fast_probe)
NAMES = ["ok-0", "down", "mute", "auth", "hostkey-changed", "hostkey-unknown", "not-json", "truncated",
         "step-hangs", "ok-1"]


@pytest.fixture(scope="module")
def fleet_run(sshd_server: SshdHandle, node_dir: NodeDir) -> Iterator[tuple[CliRun, dict[str, Any]]]:
    work = Path(tempfile.mkdtemp(prefix="plinth-rel-matrix-"))
    mute = SilentServer()
    wrong_key = work / "wrong_key"
    generate_client_key(wrong_key)
    impostor = generate_host_key(work / "impostor_host_key")
    changed = work / "known_hosts_changed"
    changed.write_text(known_hosts_line(sshd_server.host, sshd_server.port, impostor))
    unknown = work / "known_hosts_never_written"
    stuck = node_dir.path / "stuck-bin"
    for tool in ("nvidia-smi", "fio"):  # a hung driver and a hung disk: the classic stuck steps
        node_dir.script(f"stuck-bin/{tool}", "exec sleep 600\n")
    py = {
        "not-json": node_dir.script("py-garbage", "cat >/dev/null\necho 'Segmentation fault'\necho 'libfoo: fatal' >&2\n"),
        "truncated": node_dir.script("py-truncated", '/usr/bin/python3 "$@" | head -c 1500\n'),
        "step-hangs": node_dir.script("py-stuck", f'PATH={stuck}:$PATH exec /usr/bin/python3 "$@"\n'),
    }
    nodes = [
        ssh_node(sshd_server, "ok-0"),
        {"name": "down", "host": "127.0.0.1", "port": free_port()},
        {"name": "mute", "host": "127.0.0.1", "port": mute.port},
        ssh_node(sshd_server, "auth", identity_file=str(wrong_key)),
        ssh_node(sshd_server, "hostkey-changed", known_hosts=str(changed)),
        ssh_node(sshd_server, "hostkey-unknown", known_hosts=str(unknown)),
        *[ssh_node(sshd_server, name, python=str(path)) for name, path in py.items()],
        ssh_node(sshd_server, "ok-1"),
    ]
    inv = write_inventory(work / "inventory.yaml", sshd_server, nodes)
    try:
        with pytest.MonkeyPatch.context() as mp:
            run = run_validate(mp, ["-i", str(inv), "-p", PROFILE, "--no-network", "--timeout", str(TIMEOUT),
                                    "--junit", str(work / "r.xml")], work, probe_options=fast_probe(use_fio=True))
        yield run, {"work": work, "unknown": unknown, "changed": changed,
                    "changed_text": changed.read_text()}
    finally:
        mute.close()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def _node(fleet_run: tuple[CliRun, dict[str, Any]], name: str) -> dict[str, Any]:
    return fleet_run[0].node(name)


def test_run_exits_1_with_a_complete_report_within_the_budget(fleet_run: tuple[CliRun, dict[str, Any]]) -> None:
    run, ctx = fleet_run
    assert run.exception is None or isinstance(run.exception, SystemExit), repr(run.exception)
    assert run.exit_code == 1, run.output[-2000:]
    assert_complete(run.report, PROFILE, NAMES)
    # nodes run in parallel: the whole fleet costs about the slowest fault's bound, not the sum
    assert run.elapsed < TIMEOUT + 12, run.elapsed
    junit = (ctx["work"] / "r.xml").read_text()
    total = sum(len(n["checks"]) for n in run.report["nodes"]) + len(run.report["fleet"])
    assert junit.count("<testcase") == total
    # atomic writes: the report directory holds the reports and the inputs, no temp leftovers
    leftovers = [p.name for p in ctx["work"].iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []


def test_healthy_nodes_finish_with_judged_results(fleet_run: tuple[CliRun, dict[str, Any]]) -> None:
    for name in ("ok-0", "ok-1"):
        node = _node(fleet_run, name)
        assert node["reachable"]
        checks = {c["id"]: c for c in node["checks"]}
        assert checks["system.memory"]["status"] == "pass"
        assert checks["storage.free_space"]["status"] in ("pass", "warn", "fail")
        assert checks["storage.disk_throughput"]["status"] in ("pass", "warn", "fail")  # real fio ran
        assert not any(c["status"] == "error" for c in node["checks"]), node["checks"]


def test_host_down_is_connection_refused_at_once(fleet_run: tuple[CliRun, dict[str, Any]]) -> None:
    node = _node(fleet_run, "down")
    assert not node["reachable"]
    all_errors_with(node, "unreachable: 127.0.0.1:", "connection refused")
    assert node["duration_s"] < 2


def test_host_that_accepts_tcp_and_never_speaks_times_out_at_the_budget(fleet_run: tuple[CliRun, dict[str, Any]]) -> None:
    node = _node(fleet_run, "mute")
    assert not node["reachable"]
    all_errors_with(node, f"timed out after {TIMEOUT}s connecting", "no SSH banner")
    assert TIMEOUT * 0.9 <= node["duration_s"] < TIMEOUT + 3


def test_auth_failure_names_the_user_and_no_key_material(fleet_run: tuple[CliRun, dict[str, Any]]) -> None:
    node = _node(fleet_run, "auth")
    assert not node["reachable"]
    all_errors_with(node, "authentication failed for user plinthtest")
    assert node["duration_s"] < TIMEOUT
    assert "PRIVATE KEY" not in str(node)


def test_changed_host_key_is_refused_as_possible_mitm(fleet_run: tuple[CliRun, dict[str, Any]]) -> None:
    node = _node(fleet_run, "hostkey-changed")
    assert not node["reachable"]
    all_errors_with(node, "host key mismatch", "possible MITM")
    assert fleet_run[1]["changed"].read_text() == fleet_run[1]["changed_text"]  # known_hosts untouched


def test_unknown_host_key_is_refused_by_default(fleet_run: tuple[CliRun, dict[str, Any]]) -> None:
    node = _node(fleet_run, "hostkey-unknown")
    assert not node["reachable"]
    all_errors_with(node, "unknown host key", "--accept-new-host-keys")
    assert not fleet_run[1]["unknown"].exists()  # nothing recorded without the opt-in


def test_probe_output_not_json_is_an_error_on_a_reachable_node(fleet_run: tuple[CliRun, dict[str, Any]]) -> None:
    node = _node(fleet_run, "not-json")
    assert node["reachable"]
    all_errors_with(node, "probe failed: probe output is not JSON", "libfoo: fatal")  # stderr's last line


def test_truncated_probe_output_is_an_error_on_a_reachable_node(fleet_run: tuple[CliRun, dict[str, Any]]) -> None:
    node = _node(fleet_run, "truncated")
    assert node["reachable"]
    all_errors_with(node, "probe failed: probe output is truncated (")  # cut at 1500 bytes by `head -c`


def test_hung_probe_steps_are_bounded_and_only_their_sections_error(fleet_run: tuple[CliRun, dict[str, Any]]) -> None:
    """A `nvidia-smi` and a `fio` that never return (sleep forever) on the node's PATH."""
    node = _node(fleet_run, "step-hangs")
    assert node["reachable"]
    checks = {c["id"]: c for c in node["checks"]}
    gpu = checks["gpu.count"]
    assert gpu["status"] == "error" and "nvidia-smi: timed out after 2 s" in gpu["message"], gpu
    # fio timed out once (not once per ioengine) and the builtin disk test measured instead
    assert checks["storage.disk_throughput"]["status"] in ("pass", "warn", "fail"), checks["storage.disk_throughput"]
    # the rest of the node was still gathered and judged
    assert checks["system.memory"]["status"] == "pass"
    assert checks["storage.free_space"]["status"] in ("pass", "warn", "fail")
    # two hung steps, each bounded by the step budget: well inside the node budget
    assert node["duration_s"] < 2 * STEP + 4, node["duration_s"]
