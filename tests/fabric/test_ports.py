"""Ports chosen per run: candidates from a range, walked past EADDRINUSE, and a per-run hello so a
client never talks to another run's listener (or a foreign service) on a shared port. Real
sockets and real node-tool processes on 127.0.0.1."""

from __future__ import annotations

import itertools
import random
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from policies.errors import ConfigError
from tests.support.netns import NetnsTransport
from validators.fabric.ports import CANDIDATES, DEFAULT_RANGE, PortRange, candidates, parse_range
from validators.network import NetOptions, measure_pairs, node_net


def test_parse_range_accepts_low_high_and_names_the_flag_on_bad_input() -> None:
    assert parse_range("28100-28999") == PortRange(28100, 28999)
    assert parse_range(" 40000 - 40011 ").size == CANDIDATES
    for bad in ("28100", "a-b", "900-2000", "30000-20000", "60000-70000", "40000-40003"):
        with pytest.raises(ConfigError, match="^--port-range: "):
            parse_range(bad)


def test_candidates_are_consecutive_in_the_range_and_wrap() -> None:
    rng = PortRange(40000, 40019)
    for seed in range(50):
        ports = candidates(rng, random.Random(seed))
        assert len(ports) == CANDIDATES and len(set(ports)) == CANDIDATES
        assert all(rng.low <= p <= rng.high for p in ports)
        steps = {(b - a) % rng.size for a, b in itertools.pairwise(ports)}
        assert steps == {1}  # consecutive, wrapping from HIGH to LOW
    # the default range stays below Linux's ephemeral ports and Kubernetes' NodePorts
    assert DEFAULT_RANGE[1] < 30000


def _taken_port() -> tuple[socket.socket, int]:
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    s.listen(1)
    return s, s.getsockname()[1]


def test_bind_first_walks_past_taken_ports() -> None:
    squatter, taken = _taken_port()
    with squatter:
        free = socket.socket()
        free.bind(("0.0.0.0", 0))
        free_port = free.getsockname()[1]
        free.close()
        srv = node_net.bind_first(socket.AF_INET, [taken, free_port])
        with srv:
            assert srv.getsockname()[1] == free_port
        with pytest.raises(OSError, match="every candidate port is taken"):
            node_net.bind_first(socket.AF_INET, [taken])


def _listener(token: str, info: dict, answered: list) -> tuple[socket.socket, int, threading.Thread]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            answered.append(node_net.answer_hello(conn, token, info, 5.0))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv, srv.getsockname()[1], t


def test_open_with_hello_skips_a_silent_service_and_another_runs_listener() -> None:
    silent = socket.socket()  # a foreign service: accepts, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    other_answers: list = []
    ours_answers: list = []
    other, other_port, _ = _listener("run-B", {"who": "B"}, other_answers)
    ours, ours_port, t = _listener("run-A", {"who": "A"}, ours_answers)
    try:
        t0 = time.monotonic()
        sock, port, info = node_net.open_with_hello("127.0.0.1", [silent.getsockname()[1], other_port, ours_port],
                                                    "run-A", timeout_s=10, io_timeout_s=5)
        sock.close()
        elapsed = time.monotonic() - t0
        t.join(5)
        assert (port, info) == (ours_port, {"who": "A"})
        assert other_answers == [False] and ours_answers == [True]  # B's listener refused A's hello
        assert elapsed < 2 * node_net.HELLO_TIMEOUT_S + 2  # the silent one costs one hello timeout
    finally:
        for s in (silent, other, ours):
            s.close()


def test_two_runs_on_the_same_nodes_and_a_narrow_range_both_measure() -> None:
    """Two pairwise runs at once over the same three loopback 'nodes', with a range of exactly one
    candidate list: every listener of both runs competes for the same 12 ports."""
    rng = PortRange(41000, 41000 + CANDIDATES - 1)
    names = ["a", "b", "c"]

    def run() -> dict:
        transports = {n: NetnsTransport(None, n) for n in names}
        opts = NetOptions(duration_s=0.5, use_iperf3=False, timeout_s=20, pings=5, python=sys.executable, port_range=rng)
        return measure_pairs(transports, {n: "127.0.0.1" for n in names}, opts)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: run(), range(2))
    for facts in (first, second):
        for name, f in facts.items():
            assert f["error"] is None and not f.get("partial_errors"), (name, f)
            assert f["bandwidth_gbps"] > 0 and f["latency_ms"] > 0
            assert f["streams"] == NetOptions().streams
