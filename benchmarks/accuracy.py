"""Accuracy: do plinth's own measurements agree with the reference tools on the same link or disk?

- Bandwidth: two namespaces on a bridge (tests/support/netns.py); host 0's veth is shaped with tc
  tbf (both directions) to 10, 100 and 1000 Mbit/s. plinth's builtin stream is run through the
  same code the validator uses (validators.network.measure_pair, builtin tool, over a Transport that
  runs commands inside the namespaces), alternated with ``iperf3 -c … -J`` on the same link.
- Latency: this kernel has no netem, so a TCP proxy in the root namespace (netns.DelayProxy) holds
  every chunk for D/2 in each direction: a configured round trip of D. plinth's builtin ping
  client (node_net.py, the same tool the pairwise rounds stream to nodes) goes through it.
- Disk: the probe's builtin sequential test (the assembled probe with use_fio off) against fio with the
  probe's own fio arguments (1 MiB blocks, psync, O_DIRECT, fsync at the end of the write) on the
  same file size in the same directory, alternated.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.report import Row, Section, Target, fmt
from benchmarks.stats import Series, ratios
from tests.support.netns import DelayProxy, NetnsTransport, NetnsUnavailable, NsFleet, build_fleet, tbf_args
from validators.network import NetOptions, Pair, measure_pair
from validators.network.pairwise import NODE_TOOL
from validators.probe import node_script

PY = "/usr/bin/python3"  # the namespaces' "node" interpreter: not root's pyenv shim (slow start-up)
BW_TOLERANCE = 0.10
DISK_TOLERANCE = 0.15


def _shape(fleet: NsFleet, index: int, rate: str) -> None:
    h = fleet.host(index)
    for argv in (["tc", "qdisc", "replace", "dev", h.veth_root, *tbf_args(rate, 9000)],
                 fleet.exec_argv(index, ["tc", "qdisc", "replace", "dev", "eth0", *tbf_args(rate, h.mtu)])):
        subprocess.run(argv, check=True, capture_output=True, timeout=15)


def _iperf3_mbps(fleet: NsFleet, server: int, client: int, port: int, seconds: int, streams: int = 1) -> float:
    srv = subprocess.Popen(fleet.exec_argv(server, ["timeout", str(seconds + 20), "iperf3", "-s", "-1", "-p", str(port)]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            out = subprocess.run(fleet.exec_argv(client, ["iperf3", "-c", fleet.host(server).address, "-p", str(port),
                                                          "-t", str(seconds), "-P", str(streams), "-J"]),
                                 capture_output=True, text=True, check=False, timeout=seconds + 20)
            doc = json.loads(out.stdout or "{}")
            if "unable to connect" in str(doc.get("error", "")) and time.monotonic() < deadline:
                time.sleep(0.1)  # the listener is still starting
                continue
            if doc.get("error"):
                raise RuntimeError(f"iperf3: {doc['error']}")
            return float(doc["end"]["sum_received"]["bits_per_second"]) / 1e6
    finally:
        srv.wait(timeout=30)


def _builtin_mbps(fleet: NsFleet, server: int, client: int, port: int, seconds: float) -> float:
    transports = {"server": NetnsTransport(fleet.host(server).netns), "client": NetnsTransport(fleet.host(client).netns)}
    addresses = {"server": fleet.host(server).address, "client": fleet.host(client).address}
    opts = NetOptions(duration_s=seconds, port=port, use_iperf3=False, timeout_s=30.0, python=PY)
    res = measure_pair(Pair(client="client", server="server"), transports, addresses, 0, False, opts)
    if res.error or res.bandwidth_gbps is None:
        raise RuntimeError(f"builtin bandwidth: {res.error}")
    return res.bandwidth_gbps * 1000


class _TimedDelayProxy(DelayProxy):
    """DelayProxy that records how long it really held each chunk (its own clock, not plinth's).

    ``time.sleep(0.5 ms)`` overshoots (timer slack, wake-up latency on a shared VM), so the delay
    really on the path is more than the configured one, by an amount the 0 ms baseline (which does
    not sleep) cannot show. The reference is what the proxy measured it applied."""

    def __init__(self, listen_host: str, target: tuple[str, int], delay_s: float) -> None:
        self.holds: list[float] = []  # before the base class starts its threads
        super().__init__(listen_host, target, delay_s)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    dst.shutdown(socket.SHUT_WR)
                    return
                t0 = time.perf_counter()
                time.sleep(self.delay_s)
                self.holds.append(time.perf_counter() - t0)
                dst.sendall(chunk)
        except OSError:
            return


def _builtin_ping_ms(fleet: NsFleet, server: int, client: int, host: str, port: int, listen_port: int, pings: int) -> float:
    serve = {"mode": "serve", "port": listen_port, "connections": 1, "deadline_s": 30, "io_timeout_s": 10, "family": "inet"}
    listener = NetnsTransport(fleet.host(server).netns).start([PY, "-", json.dumps(serve)], stdin=NODE_TOOL.read_bytes())
    try:
        # the proxy accepts at once and gives up if the listener is not there yet: wait for the socket
        # with `ss` (a test connection would use up the listener's one connection)
        _wait_listening(fleet, server, listen_port)
        args = {"mode": "client", "host": host, "port": port, "pings": pings, "duration_s": 0,
                "connect_timeout_s": 10, "io_timeout_s": 10}
        res = NetnsTransport(fleet.host(client).netns).run([PY, "-", json.dumps(args)], stdin=NODE_TOOL.read_bytes(), timeout=60)
        out = json.loads(res.stdout.decode().strip().splitlines()[-1])
        if out.get("error") or out.get("latency_ms") is None:
            raise RuntimeError(f"builtin ping: {out.get('error')}")
        return float(out["latency_ms"])
    finally:
        listener.wait(5.0)
        listener.stop()


def _wait_listening(fleet: NsFleet, index: int, port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run(fleet.exec_argv(index, ["ss", "-Hltn", f"sport = :{port}"]), capture_output=True,
                             text=True, check=False, timeout=10).stdout
        if out.strip():
            return
        time.sleep(0.02)
    raise RuntimeError(f"builtin listener on port {port} did not start within {timeout_s:g}s")


def bandwidth_rows(fleet: NsFleet, rates_mbit: list[int], reps: int, seconds: int, section: Section) -> None:
    port = 5301
    streams = NetOptions().streams  # the builtin's default parallel streams: iperf3 gets the same (-P)
    for rate in rates_mbit:
        _shape(fleet, 0, f"{rate}mbit")
        builtin, iperf = Series(), Series()
        for rep in range(reps):
            for tool in (("builtin", "iperf3") if rep % 2 == 0 else ("iperf3", "builtin")):  # alternate who goes first
                if tool == "builtin":
                    builtin.add(_builtin_mbps(fleet, 0, 1, port, seconds))
                else:
                    iperf.add(_iperf3_mbps(fleet, 0, 1, port + 2, seconds, streams))
        shaped = Series([float(rate)] * builtin.n)
        params = f"tbf {rate} Mbit/s, {seconds} s, {streams} streams"
        section.rows.append(Row(f"bandwidth, iperf3 -c -P {streams} -J", params, "Mbit/s", iperf,
                                ratios(iperf, shaped), "shaped rate"))
        section.rows.append(Row("bandwidth, plinth builtin", params, "Mbit/s", builtin,
                                ratios(builtin, iperf), "iperf3 (same run)"))
        vs_iperf = ratios(builtin, iperf).median
        vs_rate = builtin.median / rate
        section.targets.append(Target(f"builtin bandwidth within ±10% of iperf3 at {rate} Mbit/s",
                                      f"{fmt(vs_iperf)}× iperf3 ({fmt(builtin.median)} vs {fmt(iperf.median)} Mbit/s)",
                                      abs(vs_iperf - 1) <= BW_TOLERANCE))
        section.targets.append(Target(f"builtin bandwidth within ±10% of the shaped rate at {rate} Mbit/s",
                                      f"{fmt(vs_rate)}× shaped", abs(vs_rate - 1) <= BW_TOLERANCE))


def latency_rows(fleet: NsFleet, delays_ms: list[float], reps: int, pings: int, section: Section) -> None:
    listen_port = 5401
    a = fleet.host(0)
    direct = Series()
    for _ in range(reps):
        direct.add(_builtin_ping_ms(fleet, 0, 1, a.address, listen_port, listen_port, pings))
    section.rows.append(Row("latency, plinth builtin ping, no proxy", "namespace to namespace", "ms", direct,
                            note="the link's own round trip"))
    overhead = 0.0
    hold0 = 0.0
    for d in [0.0, *delays_ms]:
        proxy = _TimedDelayProxy(fleet.bridge_address, (a.address, listen_port), delay_s=d / 2000.0)
        measured, holds = Series(), Series()
        try:
            for _ in range(reps):
                seen = len(proxy.holds)
                measured.add(_builtin_ping_ms(fleet, 0, 1, proxy.address[0], proxy.address[1], listen_port, pings))
                # per direction, in ms: how long the proxy's own clock says it held this run's chunks
                held = proxy.holds[seen:]
                holds.add(statistics.median(held) * 1000 if held else d / 2)
        finally:
            proxy.close()
        hold = holds.median
        if d == 0:
            section.rows.append(Row("latency, plinth builtin ping, proxy at 0 ms", "proxy overhead only", "ms", measured,
                                    note="the proxy's own cost (thread hand-offs)"))
            overhead, hold0 = measured.median, hold
            continue
        applied = 2 * (hold - hold0)  # the round trip's real added delay (both directions)
        configured = Series([d] * measured.n)
        section.rows.append(Row("latency, plinth builtin ping", f"proxy round trip {fmt(d)} ms, median of {pings}", "ms",
                                measured, ratios(measured, configured), "configured delay"))
        section.rows.append(Row("latency, delay the proxy really applied", f"proxy round trip {fmt(d)} ms", "ms",
                                Series([2 * (h - hold0) for h in holds.samples]),
                                note=f"2 × median hold per chunk, proxy's own clock ({fmt(applied - d)} ms over configured)"))
        # the reference is what is really on the path: the delay the proxy measured it applied plus
        # the proxy's own cost measured at 0 ms (the raw ratio to the configured delay is in the row)
        expected = applied + overhead
        err = (measured.median - overhead) / applied - 1
        section.targets.append(Target(f"latency within ±10% of the {fmt(d)} ms proxy delay as applied (+ proxy overhead)",
                                      f"{err:+.1%} ({fmt(measured.median)} ms measured, {fmt(expected)} ms expected)",
                                      abs(err) <= 0.10))


def _probe_disk(directory: Path, mb: int) -> tuple[float, float]:
    opts = {"disk_path": str(directory), "disk_test_mb": mb, "use_fio": False, "step_timeout_s": 120}
    out = subprocess.run([PY, "-", json.dumps(opts)], input=node_script(), capture_output=True, check=False, timeout=300)
    disk = json.loads(out.stdout)["disk"]
    if disk.get("error") or disk.get("write_mb_s") is None or disk.get("read_mb_s") is None:
        raise RuntimeError(f"probe disk test: {disk.get('error')}")
    if not disk.get("direct"):
        raise RuntimeError(f"probe disk test did not use O_DIRECT: {disk.get('notes')}")
    return float(disk["write_mb_s"]), float(disk["read_mb_s"])


def _fio_json(argv: list[str]) -> dict:
    out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"fio: {out.stderr.strip()[:200]}")
    return json.loads(out.stdout[out.stdout.find("{"):])


def _fio_disk(directory: Path, mb: int) -> tuple[float, float]:
    target = directory / "fio-reference.dat"
    common = [f"--filename={target}", "--bs=1M", f"--size={mb}M", "--ioengine=psync", "--output-format=json",
              "--numjobs=1", "--direct=1"]
    try:
        w = _fio_json(["fio", "--name=ref-write", "--rw=write", "--end_fsync=1", *common])["jobs"][0]["write"]
        r = _fio_json(["fio", "--name=ref-read", "--rw=read", *common])["jobs"][0]["read"]
    finally:
        target.unlink(missing_ok=True)
    # fio's bw is KiB/s; plinth reports MB = 10^6 bytes
    return w["bw"] * 1024 / 1e6, r["bw"] * 1024 / 1e6


def disk_rows(directory: Path, mb: int, reps: int, section: Section) -> None:
    bw, br, fw, fr = Series(), Series(), Series(), Series()
    for rep in range(2 * reps):  # cheap (a second each) and the noisiest figure: twice the repetitions
        for tool in (("builtin", "fio") if rep % 2 == 0 else ("fio", "builtin")):
            write, read = _probe_disk(directory, mb) if tool == "builtin" else _fio_disk(directory, mb)
            (bw if tool == "builtin" else fw).add(write)
            (br if tool == "builtin" else fr).add(read)
    where = f"{mb} MiB file, 1 MiB blocks, O_DIRECT, {directory.parent}"
    for mode, mine, ref in (("write", bw, fw), ("read", br, fr)):
        section.rows.append(Row(f"disk sequential {mode}, fio", where, "MB/s", ref))
        section.rows.append(Row(f"disk sequential {mode}, plinth builtin", where, "MB/s", mine, ratios(mine, ref), "fio (same run)"))
        r = ratios(mine, ref).median
        section.targets.append(Target(f"builtin sequential {mode} within ±15% of fio", f"{fmt(r)}× fio "
                                      f"({fmt(mine.median)} vs {fmt(ref.median)} MB/s)", abs(r - 1) <= DISK_TOLERANCE))


def run_accuracy(rates_mbit: list[int], delays_ms: list[float], disk_mb: int, reps: int, seconds: int,
                 pings: int = 20) -> Section:
    section = Section("accuracy", "Accuracy: bandwidth, latency, disk")
    t0 = time.monotonic()
    try:
        fleet = build_fleet(2)
    except (NetnsUnavailable, RuntimeError, OSError) as exc:  # not root, no `ip netns`: the disk part still runs
        fleet = None
        section.notes.append(f"network accuracy not measured: {exc}")
    if fleet is not None:
        try:
            bandwidth_rows(fleet, rates_mbit, reps, seconds, section)
            latency_rows(fleet, delays_ms, reps, pings, section)
        finally:
            fleet.close()
    with tempfile.TemporaryDirectory(prefix=f"plinth-bench-disk-{os.getpid()}-", dir="/var/tmp") as d:
        disk_rows(Path(d), disk_mb, reps, section)
    section.notes += [
        ("tbf shapes both directions of one host's veth; MTU 9000 on the bridge. iperf3 figure: "
         "end.sum_received (what the receiver got). The shaped rate counts every byte on the wire, "
         "headers included, so a payload figure a little under it is expected from any tool."),
        ("Latency reference: the proxy holds each chunk D/2 per direction (round trip + D). time.sleep "
         "overshoots by tens of µs per call here, so the target compares with the delay the proxy timed "
         "itself applying (row 'really applied') plus the 0 ms proxy row (its hand-offs); the ratio to "
         "the configured D is kept in the plinth row."),
        ("Bandwidth: plinth's builtin sends NetOptions().streams parallel TCP streams by default; iperf3 runs "
         "with the same -P so both tools face the same queue (tbf's 50 ms queue drops heavily at 10 Mbit/s "
         "with MTU 9000)."),
        ("Disk: /var/tmp (a real filesystem; /tmp can be tmpfs elsewhere, where O_DIRECT fails), twice the "
         "repetitions of the other figures. On a virtual disk the hypervisor's cache makes throughput bimodal; "
         "read the min–max before the verdict."),
    ]
    section.wall_s = time.monotonic() - t0
    return section


__all__ = ["run_accuracy"]
