"""The node-side tool (validators/network/node_net.py) and measure_pairs over real processes and
sockets on 127.0.0.1 -- no SSH, no namespaces (those are in test_netns.py)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.netns import NetnsTransport
from validators.network import NetOptions, measure_pairs, node_net
from validators.network.pairwise import NODE_TOOL

TOOL = NODE_TOOL.read_bytes()


def _serve(args: dict) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen([sys.executable, "-", json.dumps(args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin and proc.stdout
    proc.stdin.write(TOOL)
    proc.stdin.close()
    proc.stdin = None  # communicate() must not flush it again
    first = json.loads(proc.stdout.readline())  # the tool says where it listens before serving
    assert first["event"] == "listening"
    return proc, first["port"]


def _client(args: dict) -> dict:
    res = subprocess.run([sys.executable, "-", json.dumps(args)], input=TOOL, check=False, capture_output=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_loopback_ping_and_receiver_counted_bandwidth() -> None:
    server, port = _serve({"mode": "serve", "port": 0, "connections": 2, "deadline_s": 20})
    try:
        out = _client({"mode": "client", "host": "127.0.0.1", "port": port, "pings": 20, "duration_s": 0.5})
        assert out["error"] is None
        assert len(out["rtts_ms"]) == 20
        assert 0 < out["latency_ms"] < 5  # loopback: well under a millisecond unless the box is swamped
        assert out["bandwidth_gbps"] > 0.5
        done = [json.loads(line) for line in server.communicate(timeout=10)[0].splitlines()]
        # the bandwidth the client reports is the server's own count over the sender's 0.5 s window
        served = done[-1]["served"]
        assert [s["kind"] for s in served] == ["ping", "bandwidth"]
        assert served[1]["bytes"] == out["total_bytes"] == sum(served[1]["counts"])
        assert out["window"] == "sender" and 0 < out["bytes"] <= out["total_bytes"]
        # the window ends at the sender's stop or the last byte, whichever is first, so the server's
        # late first byte on a busy machine may shorten it a little, never lengthen it
        assert 0.4 <= out["seconds"] <= 0.5
        assert out["bandwidth_gbps"] == pytest.approx(out["bytes"] * 8 / out["seconds"] / 1e9)
        assert server.returncode == 0  # exited by itself after its two clients
    finally:
        server.kill()


def test_parallel_streams_are_summed_from_the_servers_counts() -> None:
    server, port = _serve({"mode": "serve", "port": 0, "connections": 4, "deadline_s": 20})
    try:
        out = _client({"mode": "client", "host": "127.0.0.1", "port": port, "pings": 2, "duration_s": 0.5, "streams": 3})
        assert out["error"] is None and out["streams"] == 3
        served = json.loads(server.communicate(timeout=10)[0].splitlines()[-1])["served"]
        streams = [s for s in served if s["kind"] == "bandwidth"]
        assert len(streams) == 3 and all(s["bytes"] > 0 for s in streams)
        assert out["total_bytes"] == sum(s["bytes"] for s in streams)
        # the streams start together (all connected first) and share the server's clock
        assert max(s["first"] for s in streams) - min(s["first"] for s in streams) < 0.25
        assert out["bytes"] == node_net.window_rate(streams, 0.5)["bytes"]
        assert out["bandwidth_gbps"] == pytest.approx(out["bytes"] * 8 / out["seconds"] / 1e9)
    finally:
        server.kill()


def _ack(first_bucket: int, counts: list[int], b: float = 0.01) -> dict:
    """A server ack as node_net sends it: bytes per bucket from ``first_bucket`` on."""
    nonzero = [i for i, c in enumerate(counts) if c]
    return {"bytes": sum(counts), "first": (first_bucket + nonzero[0]) * b, "last": (first_bucket + nonzero[-1]) * b + b / 2,
            "bucket_s": b, "bucket0": first_bucket, "counts": counts}


def test_window_rate_ignores_a_stream_stalled_after_the_senders_window() -> None:
    # 4 streams, 1 s window from bucket 100: each delivers 3125 bytes per 10 ms (10 Mbit/s together);
    # one stream's last segment is retransmitted 2 s later (RTO) on an otherwise idle link
    steady = [3125] * 100
    acks = [_ack(100, steady + [3125] * 30) for _ in range(3)] + [_ack(100, steady + [0] * 200 + [1448])]
    res = node_net.window_rate(acks, 1.0)
    assert res["window"] == "sender"
    assert res["seconds"] == pytest.approx(1.0)
    assert res["bytes"] * 8 / res["seconds"] / 1e6 == pytest.approx(10.0)
    assert res["total_bytes"] == sum(a["bytes"] for a in acks)
    # the old figure (everything over first-to-last byte) reads the idle tail as a slow link
    span = max(a["last"] for a in acks) - min(a["first"] for a in acks)
    assert res["total_bytes"] * 8 / span / 1e6 < 6


def test_window_rate_counts_a_stall_inside_the_window() -> None:
    # every stream stops for half the window: the link really delivered half the rate
    stalled = [3125] * 50 + [0] * 50 + [3125] * 10
    res = node_net.window_rate([_ack(0, stalled) for _ in range(4)], 1.0)
    assert res["bytes"] * 8 / res["seconds"] / 1e6 == pytest.approx(5.0)


def test_window_rate_never_stretches_past_the_last_byte_and_falls_back_without_buckets() -> None:
    # traffic ended after 0.5 s of a 2 s window: the rate is over the 0.5 s, not diluted over 2 s
    res = node_net.window_rate([_ack(0, [1000] * 50)], 2.0)
    assert res["seconds"] == pytest.approx(0.49)  # whole buckets up to the last byte's
    assert res["bytes"] / res["seconds"] == pytest.approx(100_000)
    # an ack without buckets (or a window under MIN_WINDOW_BUCKETS): the conservative whole span
    old = {"bytes": 1000, "first": 1.0, "last": 3.0}
    assert node_net.window_rate([old], 1.0) == {"bytes": 1000, "seconds": 2.0, "total_bytes": 1000, "window": "span"}
    short = node_net.window_rate([_ack(0, [1000] * 5)], 1.0)
    assert short["window"] == "span" and short["bytes"] == 5000


def test_server_exits_at_its_deadline_when_no_client_comes() -> None:
    t0 = time.monotonic()
    server, _ = _serve({"mode": "serve", "port": 0, "connections": 2, "deadline_s": 0.5})
    out, _ = server.communicate(timeout=10)
    assert time.monotonic() - t0 < 5
    assert json.loads(out.splitlines()[-1]) == {"event": "done", "served": [], "reason": "deadline reached"}


def test_client_reports_refused_connection_within_its_timeout() -> None:
    with socket.socket() as s:  # bound, not listening: connects are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        t0 = time.monotonic()
        out = _client({"mode": "client", "host": "127.0.0.1", "port": port, "pings": 3, "connect_timeout_s": 0.5})
    assert time.monotonic() - t0 < 5
    assert "cannot connect to 127.0.0.1" in out["error"] and out["latency_ms"] is None


def test_bad_arguments_exit_2() -> None:
    res = subprocess.run([sys.executable, "-", "{not json"], input=TOOL, check=False, capture_output=True, timeout=30)
    assert res.returncode == 2 and b"bad arguments" in res.stderr


def _local(names: list[str]) -> tuple[dict[str, NetnsTransport], dict[str, str]]:
    return {n: NetnsTransport(None, n) for n in names}, {n: "127.0.0.1" for n in names}


def _free_base() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1] % 20000 + 30000


@pytest.mark.parametrize("use_iperf3", [False])  # iperf3 over real links: test_netns.py
def test_measure_pairs_on_loopback_measures_every_node(use_iperf3: bool) -> None:
    transports, addresses = _local(["a", "b", "c"])
    opts = NetOptions(duration_s=0.5, port=_free_base(), use_iperf3=use_iperf3, timeout_s=15, pings=5,
                      python=sys.executable, spread_ports=True)
    facts = measure_pairs(transports, addresses, opts)
    assert set(facts) == {"a", "b", "c"}
    for f in facts.values():
        assert f["error"] is None, f
        assert f["tool"] == ("iperf3" if use_iperf3 else "builtin")
        assert f["bandwidth_gbps"] > 0.1 and f["latency_ms"] > 0
        assert {p["role"] for p in f["peers"]} == {"client", "server"}


def test_single_node_has_nothing_to_pair() -> None:
    transports, addresses = _local(["solo"])
    assert measure_pairs(transports, addresses, NetOptions(python=sys.executable)) == {}


def test_listener_that_cannot_bind_is_an_error_with_its_reason_not_a_hang() -> None:
    base = _free_base()
    transports, addresses = _local(["a", "b"])
    opts = NetOptions(duration_s=0.3, port=base, use_iperf3=False, timeout_s=3, pings=2,
                      python=sys.executable, spread_ports=True)
    with socket.socket() as squatter:  # node a's listener port (base + 0) is taken
        squatter.bind(("0.0.0.0", base))
        t0 = time.monotonic()
        facts = measure_pairs(transports, addresses, opts)
    assert time.monotonic() - t0 < 15
    bad = next(p for p in facts["b"]["peers"] if p["peer"] == "a" and p["role"] == "client")
    assert "cannot connect" in bad["error"] and "cannot listen on port" in bad["error"]
    # b -> a failed, a -> b worked: each node keeps its good pair, nobody is blamed wholesale
    assert facts["a"]["error"] is None and facts["b"]["error"] is None
    assert facts["b"]["partial_errors"]


def test_missing_interpreter_on_the_node_is_an_error_for_every_node() -> None:
    transports, addresses = _local(["a", "b", "c"])
    opts = NetOptions(duration_s=0.2, port=_free_base(), use_iperf3=False, timeout_s=3,
                      python="/nonexistent/python3", spread_ports=True)
    facts = measure_pairs(transports, addresses, opts)
    for f in facts.values():
        assert f["error"] and "every pair failed" in f["error"] and "listener did not start" in f["error"]


def test_node_without_address_is_reported() -> None:
    transports, addresses = _local(["a", "b", "c"])
    del addresses["c"]
    opts = NetOptions(duration_s=0.2, port=_free_base(), use_iperf3=False, timeout_s=5, pings=2,
                      python=sys.executable, spread_ports=True)
    facts = measure_pairs(transports, addresses, opts)
    assert facts["c"]["error"] == "no address known for this node"
    assert facts["a"]["error"] is None and facts["b"]["error"] is None


def _python38() -> str | None:
    """A python3.8 to prove the node tool runs on the oldest interpreter it promises."""
    import shutil

    for cand in (shutil.which("python3.8"), *sorted(str(p) for p in Path("/root/.pyenv/versions").glob("3.8*/bin/python3.8"))):
        if cand and subprocess.run([cand, "-c", "pass"], check=False, capture_output=True, timeout=30).returncode == 0:
            return cand
    return None


def test_node_tool_runs_on_python38() -> None:
    py = _python38()
    if py is None:
        pytest.skip("no python3.8 interpreter here to check the node tool's compatibility")
    transports, addresses = _local(["a", "b"])
    opts = NetOptions(duration_s=0.3, port=_free_base(), use_iperf3=False, timeout_s=10, pings=3, python=py, spread_ports=True)
    facts = measure_pairs(transports, addresses, opts)
    assert all(f["error"] is None and f["bandwidth_gbps"] > 0 for f in facts.values()), facts
