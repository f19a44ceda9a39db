"""The real tools, run the way plinth runs them on a fleet: fi_pingpong with libfabric's tcp provider
and mpirun (Open MPI) between network-namespace hosts, reached over plinth's SSH transport; the same
argv builders EFA nodes get (only ``-p efa`` differs). Then tools that hang or print garbage, bounded."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fabric.helpers import NO_BOUND
from tests.probe.helpers import fake_tool
from tests.support.netns import NsHost, NsSshFleet
from tests.support.sshd import TEST_USER, free_port
from validators.fabric.dcgm import diag_argv, parse_diag_json
from validators.fabric.mpi import mpirun_prefix
from validators.fabric.nccl import evaluate, fabric_env, local_argv, mpirun_argv, parse_all_reduce
from validators.fabric.rdma import (
    evaluate_bandwidth,
    fi_pingpong_client_argv,
    fi_pingpong_server_argv,
    ib_write_bw_server_argv,
    parse_fi_pingpong,
    parse_ib_write_bw,
)
from validators.fabric.toolout import bounded
from validators.transport.base import CommandResult
from validators.transport.ssh import SshTarget, SshTransport

pytestmark = pytest.mark.root

# node-0 and node-2 of the session fleet (node-1 is shaped to 100 Mbit: slower than these tests need)
FIRST, SECOND = 0, 2
# both ends must agree on iterations and size, or the server waits for messages that never come
PING_ITERATIONS, PING_SIZE = 20, 4096


def _output(result: CommandResult) -> bytes:
    return result.stdout + result.stderr


@pytest.fixture
def transports(ns_fleet_sshd: NsSshFleet) -> Iterator[dict[int, SshTransport]]:
    out: dict[int, SshTransport] = {}
    try:
        for i in (FIRST, SECOND):
            host = ns_fleet_sshd.fleet.host(i)
            t = SshTransport(SshTarget(host.address, 22, ns_fleet_sshd.user, ns_fleet_sshd.client_key, ns_fleet_sshd.known_hosts))
            t.connect(10)
            out[i] = t
        yield out
    finally:
        for t in out.values():
            t.close()


@dataclass
class NodeSsh:
    """Node-to-node SSH as a cluster's head node has it: the login user's own key (authorized on every
    node) and a known_hosts with the peers' host keys, in a directory that user owns."""

    dir: Path
    key: Path
    known_hosts: Path


@pytest.fixture
def node_ssh(ns_fleet_sshd: NsSshFleet) -> Iterator[NodeSsh]:
    user = pwd.getpwnam(TEST_USER)
    base = Path(tempfile.mkdtemp(prefix=f"plinth-nodessh-{os.getpid()}-"))
    try:
        key, known = base / "id_node", base / "known_hosts"
        shutil.copyfile(ns_fleet_sshd.client_key, key)
        shutil.copyfile(ns_fleet_sshd.known_hosts, known)
        for path, mode in ((base, 0o755), (key, 0o600), (known, 0o644)):
            os.chown(path, user.pw_uid, user.pw_gid)
            path.chmod(mode)
        yield NodeSsh(base, key, known)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _hosts(fleet: NsSshFleet) -> tuple[NsHost, NsHost]:
    return fleet.fleet.host(FIRST), fleet.fleet.host(SECOND)


# --- fi_pingpong: tcp provider between two hosts -------------------------------------------------

def _pingpong(transports: dict[int, SshTransport], server: NsHost, provider: str) -> tuple[dict, dict]:
    """Server on SECOND, client on FIRST, on a free control port; the client retries while the server
    is not listening yet (a RunningCommand cannot say when it is)."""
    port = free_port()
    listener = transports[SECOND].start(fi_pingpong_server_argv(provider, port, iterations=PING_ITERATIONS,
                                                                 size=PING_SIZE, timeout_s=20))
    client: dict = {}
    try:
        for _ in range(50):
            argv = fi_pingpong_client_argv(server.address, provider, port, iterations=PING_ITERATIONS, size=PING_SIZE,
                                           timeout_s=20)
            r = transports[FIRST].run(argv, timeout=30)
            client = parse_fi_pingpong(_output(r), provider=provider, exit_code=r.exit_code)
            if client["ok"] or "Connection refused" not in (client["error"] or ""):
                break
            time.sleep(0.1)
        s = listener.wait(25)
    finally:
        listener.stop()
    return client, parse_fi_pingpong(_output(s), provider=provider, exit_code=s.exit_code)


def test_fi_pingpong_tcp_provider_between_namespace_hosts_over_ssh(fabric_tools: None, ns_fleet_sshd: NsSshFleet,
                                                                  transports: dict[int, SshTransport]) -> None:
    _, server = _hosts(ns_fleet_sshd)
    client, listener = _pingpong(transports, server, "tcp")
    assert client["ok"], client["error"]
    assert listener["ok"], listener["error"]  # both ends print the same table
    row = client["rows"][0]
    assert (row["bytes"], row["iters"]) == (PING_SIZE, PING_ITERATIONS)
    assert row["total"] == pytest.approx(2 * PING_ITERATIONS * PING_SIZE, rel=0.05)  # fabtests prints "160k"
    assert client["peak_mb_s"] > 0 and row["time_s"] is not None
    res = evaluate_bandwidth("fabric.pingpong", client, NO_BOUND, None, f"tcp path to {server.name}")
    assert res.status == "pass" and isinstance(res.measured, float) and res.measured > 0


def test_fi_pingpong_efa_provider_on_a_node_without_efa_is_an_error(fabric_tools: None, ns_fleet_sshd: NsSshFleet,
                                                                   transports: dict[int, SshTransport]) -> None:
    """The same argv with ``-p efa`` on hosts that have no EFA: libfabric's own fi_getinfo -61, never a pass."""
    _, server = _hosts(ns_fleet_sshd)
    client, listener = _pingpong(transports, server, "efa")
    assert not client["ok"] and not listener["ok"]
    assert "provider efa is not available" in f"{client['error']} {listener['error']}"
    for side in (client, listener):
        res = evaluate_bandwidth("fabric.pingpong", side, NO_BOUND, None, "EFA path")
        assert res.status == "error"


# --- mpirun (Open MPI) over node-to-node SSH -------------------------------------------------

def test_mpirun_launches_a_command_on_two_namespace_hosts(fabric_tools: None, ns_fleet_sshd: NsSshFleet, node_ssh: NodeSsh,
                                                          transports: dict[int, SshTransport]) -> None:
    first, second = _hosts(ns_fleet_sshd)
    prefix = mpirun_prefix([first.address, second.address], 1, env={"PLINTH_FABRIC_PROBE": "42 and spaces"}, ssh_port=22,
                           ssh_identity=str(node_ssh.key), known_hosts=str(node_ssh.known_hosts))
    script = ('echo "rank=$OMPI_COMM_WORLD_RANK addr=$(ip -4 -o addr show eth0 | awk \'{print $4}\' | cut -d/ -f1) '
              'probe=$PLINTH_FABRIC_PROBE"')
    r = transports[FIRST].run(bounded([*prefix, "sh", "-c", script], 30), timeout=40)
    assert r.exit_code == 0, _output(r).decode(errors="replace")[-2000:]
    seen = dict(re.findall(r"rank=(\d) addr=(\S+) probe=42 and spaces", r.stdout.decode()))
    assert seen == {"0": first.address, "1": second.address}


_FAKE_NCCL_TESTS = r"""
addr=$(ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1)
echo "# args: $*"
echo "# env: NCCL_NET=$NCCL_NET NCCL_DEBUG=$NCCL_DEBUG"
echo "#  Rank ${OMPI_COMM_WORLD_RANK} Group  0 Pid $$ on ${addr} device  0 [0000:00:00] Fake GPU"
if [ "$OMPI_COMM_WORLD_RANK" = 0 ]; then
  sleep 0.3
  echo "# nThread 1 nGpus 1 minBytes 8 maxBytes 1024 step: 2(factor) warmup iters: 1 iters: 3 agg iters: 1 validation: 1 graph: 0"
  echo "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong"
  echo "           8             2     float     sum      -1    10.00    0.00    0.00      0    10.00    0.00    0.00      0"
  echo "        1024           256     float     sum      -1    10.00    0.10    0.10      0    10.00    0.10    0.10      0"
  echo "# Out of bounds values : 0 OK"
  echo "# Avg bus bandwidth    : 0.05"
fi
"""


def test_mpirun_argv_runs_nccl_tests_across_two_hosts(fabric_tools: None, ns_fleet_sshd: NsSshFleet, node_ssh: NodeSsh,
                                                      transports: dict[int, SshTransport]) -> None:
    """mpirun_argv exactly as a fleet round sends it, with the TCP fabric environment; the binary is a
    stand-in all_reduce_perf (no GPU here) that reports what it received on each host."""
    first, second = _hosts(ns_fleet_sshd)
    binary = fake_tool(node_ssh.dir / "bin", "all_reduce_perf", _FAKE_NCCL_TESTS)
    (node_ssh.dir / "bin").chmod(0o755)
    argv = mpirun_argv([first.address, second.address], 1, binary=str(binary), env=fabric_env("tcp"), ssh_port=22,
                       ssh_identity=str(node_ssh.key), known_hosts=str(node_ssh.known_hosts), min_bytes=8, max_bytes=1024,
                       iters=3, warmup=1, timeout_s=30)
    r = transports[FIRST].run(argv, timeout=40)
    text = _output(r).decode(errors="replace")
    assert r.exit_code == 0, text[-2000:]
    assert text.count("-b 8 -e 1024 -f 2 -g 1 -n 3 -w 1 -c 1") == 2  # both ranks got the bounded, checked run
    assert text.count("NCCL_NET=Socket NCCL_DEBUG=INFO") == 2
    run = parse_all_reduce(text, exit_code=r.exit_code)
    assert run["ok"] and run["nranks"] == 2 and set(run["hosts"]) == {first.address, second.address}
    assert evaluate("fabric.nccl_allreduce", run, NO_BOUND, None, "tcp all-reduce").status == "pass"


def test_mpirun_refuses_a_peer_whose_host_key_is_unknown(fabric_tools: None, ns_fleet_sshd: NsSshFleet, node_ssh: NodeSsh,
                                                         transports: dict[int, SshTransport]) -> None:
    """Node-to-node SSH without the peer's host key: ssh refuses (StrictHostKeyChecking=yes), mpirun stops,
    and the judge says which SSH requirement the nodes miss."""
    first, second = _hosts(ns_fleet_sshd)
    only_first = "".join(line + "\n" for line in node_ssh.known_hosts.read_text().splitlines()
                         if line.startswith(first.address + " "))
    assert only_first
    node_ssh.known_hosts.write_text(only_first)
    argv = mpirun_argv([first.address, second.address], 1, binary="all_reduce_perf", env={}, ssh_port=22,
                       ssh_identity=str(node_ssh.key), known_hosts=str(node_ssh.known_hosts), iters=1, warmup=0, timeout_s=30)
    r = transports[FIRST].run(argv, timeout=40)
    run = parse_all_reduce(_output(r), exit_code=r.exit_code)
    assert r.exit_code not in (0, None) and not run["ok"]
    assert f"host key is known for {second.address}" in run["error"]
    res = evaluate("fabric.nccl_allreduce", run, NO_BOUND, None, "cross-node all-reduce")
    assert res.status == "error" and "known_hosts" in (res.remediation or "")


# --- the real ib_write_bw on a machine without RDMA ---------------------------------------------

def test_real_ib_write_bw_without_rdma_devices_is_an_error(fabric_tools: None) -> None:
    """perftest runs here, but this kernel has no RDMA device: its own words, never a pass."""
    r = subprocess.run(ib_write_bw_server_argv("mlx5_0", free_port(), timeout_s=10), capture_output=True, timeout=30, check=False)
    run = parse_ib_write_bw(r.stdout + r.stderr, exit_code=r.returncode)
    assert r.returncode != 0 and not run["ok"] and "no RDMA device" in run["error"]
    res = evaluate_bandwidth("fabric.rdma_bandwidth", run, NO_BOUND, 400.0, "mlx5_0")
    assert res.status == "error" and "ibv_devinfo" in (res.remediation or "")


# --- tools that hang or print garbage ----------------------------------------------------------

def _run_local(argv: list[str], bin_dir: Path) -> tuple[subprocess.CompletedProcess[bytes], float]:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, env=env, timeout=20, check=False)
    return proc, time.monotonic() - t0


def test_hanging_tools_end_at_the_bound_the_caller_set(tmp_path: Path) -> None:
    """Each argv builder's ``timeout_s`` bounds a tool that never finishes (the shell's children too:
    coreutils timeout signals the whole group); the parsers then say "time bound", not "no output"."""
    hang = 'echo "# nThread 1 nGpus 8 minBytes 8 maxBytes 8 step: 2(factor) warmup iters: 1 iters: 1 agg iters: 1 validation: 1"\n' \
           "sleep 300\n"
    for name in ("all_reduce_perf", "fi_pingpong", "dcgmi"):
        fake_tool(tmp_path, name, hang)
    cases = [
        (local_argv(8, min_bytes=8, max_bytes=8, iters=1, warmup=0, timeout_s=1), lambda out, rc: parse_all_reduce(out, exit_code=rc)),
        (fi_pingpong_client_argv("10.0.0.1", "efa", 1, timeout_s=1), lambda out, rc: parse_fi_pingpong(out, exit_code=rc)),
        (diag_argv(1, timeout_s=1), lambda out, rc: parse_diag_json(out, exit_code=rc)),
    ]
    for argv, parse in cases:
        proc, elapsed = _run_local(argv, tmp_path)
        assert proc.returncode == 124 and elapsed < 4, (argv, proc.returncode, elapsed)
        result = parse(proc.stdout + proc.stderr, proc.returncode)
        assert not result["ok"] and "time bound" in result["error"], result["error"]


def test_garbage_printing_tools_are_errors_not_results(tmp_path: Path) -> None:
    garbage = "printf '\\033[31m\\000\\377 all_reduce_perf? | Pass | sure |\\n{\"DCGM Diagnostic\": [}\\n'\nexit 0\n"
    for name in ("all_reduce_perf", "fi_pingpong", "dcgmi"):
        fake_tool(tmp_path, name, garbage)
    nccl, _ = _run_local(local_argv(8, min_bytes=8, max_bytes=8, iters=1, warmup=0, timeout_s=5), tmp_path)
    pp, _ = _run_local(fi_pingpong_client_argv("10.0.0.1", "tcp", 1, timeout_s=5), tmp_path)
    dc, _ = _run_local(diag_argv(1, timeout_s=5), tmp_path)
    assert "no nccl-tests result table" in parse_all_reduce(nccl.stdout)["error"]
    assert "no fi_pingpong result" in parse_fi_pingpong(pp.stdout)["error"]
    assert "invalid JSON" in parse_diag_json(dc.stdout)["error"]
