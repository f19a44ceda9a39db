"""plinth's builtin node-to-node TCP tool. Runs ON THE NODE: stdlib only, python3.8+.

It is streamed over the Transport like the probe (``python3 - '<json-args>'`` with this file on
stdin), so nothing is installed on the node. Two modes:

``{"mode": "serve", "ports": [P, ...], "token": T, "connections": K, "deadline_s": D, "family":
"inet"|"inet6", "iperf3": [[P, argv], ...]}``
    Listen on the first free port of ``ports`` (walking on past EADDRINUSE; ``"port": P`` is a
    one-element list, 0 any free port), print ``{"event": "listening", "port": <bound>}`` once
    bound, then serve K connections (each in its own thread: parallel streams arrive together)
    and exit (or exit at the deadline, so nothing lingers on the node). With ``token``, a
    connection must first send the hello ``PLINTH <token>\n`` (validators/fabric/ports.py): the
    listener answers ``OK <json>\n`` and serves it, or closes it unanswered (another run's
    client, a port scanner) without counting it. ``iperf3``: candidate ports with the iperf3
    server argv for each; the first that starts (not "Address already in use") is announced in
    every ``OK`` answer as ``{"iperf3_port": P}``, so the controller learns it from the client.
    After the hello, the first byte of a connection says what it wants:
    ``P`` ping: echo every message back (latency); ``B`` bandwidth: count bytes until the client
    half-closes, then answer one JSON line ``{"bytes": n, "seconds": s, "first": t, "last": t,
    "bucket_s": b, "bucket0": k, "counts": [...]}`` -- the RECEIVER's count, its first and last
    byte on the server's clock (shared by all streams) and the bytes received in each ``b``-second
    bucket from bucket ``k`` on, so data still sitting in socket buffers when the sender stops is
    never counted as delivered. Ends with ``{"event": "done", ...}``.

``{"mode": "client", "host": H, "ports": [P, ...], "token": T, "pings": 20, "duration_s": D,
"streams": S, "connect_timeout_s": C, "io_timeout_s": I}``
    Connect to the first candidate port whose listener answers this run's hello (retrying the
    list until C: the server may still be starting), send ``pings`` small messages
    with TCP_NODELAY and report the median round trip; then, if D > 0, stream large buffers over S
    parallel connections for D seconds and report the bandwidth the server acknowledges: the
    bytes all streams delivered during the sender's D-second window, over that window (see
    :func:`window_rate`). Prints one JSON object: ``{"latency_ms": m, "rtts_ms": [...],
    "bandwidth_gbps": g, "bytes": n, "seconds": s, "total_bytes": n, "window": "sender"|"span",
    "port": <the listener's port>, "iperf3_port": P|null, "error": reason|null}``.

Every socket operation has a timeout (``io_timeout_s``, default 10 s: a link that dies mid-stream
ends the run within it); failures are reported in ``error`` (exit 0 with JSON), a
bad invocation exits 2.
"""

from __future__ import annotations

import errno
import json
import math
import socket
import statistics
import subprocess
import sys
import threading
import time

PING_SIZE = 64
CHUNK = 1 << 20  # 1 MiB sendall buffers keep per-call overhead negligible even at 100 Gbps
IO_TIMEOUT_S = 10.0
# The server counts bytes per bucket of this length so the client can take the rate over the
# window in which every stream was in flight (one jumbo frame is ~7 ms at 10 Mbit/s)
BUCKET_S = 0.01
# a sender window shorter than this many buckets: fall back to the whole span (conservative)
MIN_WINDOW_BUCKETS = 20
HELLO_TIMEOUT_S = 2.0  # a listener that accepts but never answers the hello is not ours


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            raise ConnectionError("peer closed the connection")
        buf += part
    return buf


def _serve_ping(conn: socket.socket) -> None:
    while True:
        try:
            msg = _recv_exact(conn, PING_SIZE)
        except ConnectionError:
            return  # the client is done
        conn.sendall(msg)


def _serve_bandwidth(conn: socket.socket, origin: float) -> dict:
    total = 0
    first = last = None
    bucket0 = 0
    counts: list = []
    view = bytearray(CHUNK)
    while True:
        n = conn.recv_into(view)
        if n == 0:
            break
        now = time.perf_counter() - origin
        k = int(now / BUCKET_S)
        if first is None:
            first = now
            bucket0 = k
        last = now
        total += n
        i = k - bucket0
        if i >= len(counts):
            counts.extend([0] * (i + 1 - len(counts)))
        counts[i] += n
    # times are seconds since the listener started, one clock for every stream: the client lines
    # parallel streams up with them (see window_rate)
    result = {"bytes": total, "first": first, "last": last,
              "seconds": (last - first) if first is not None and last is not None else 0.0,
              "bucket_s": BUCKET_S, "bucket0": bucket0, "counts": counts}
    conn.sendall((json.dumps(result) + "\n").encode())
    return result


def read_line(sock: socket.socket, limit: int = 512) -> bytes:
    """One short line, a byte at a time: what follows it must stay in the socket for the caller."""
    buf = b""
    while not buf.endswith(b"\n"):
        part = sock.recv(1)
        if not part:
            raise ConnectionError("peer closed the connection")
        buf += part
        if len(buf) > limit:
            raise ConnectionError("peer sent an over-long line")
    return buf


def answer_hello(conn: socket.socket, token: str, info: dict, io_timeout: float) -> bool:
    """Read the peer's hello; answer ``OK <info json>`` when it carries ``token``. False: not ours."""
    conn.settimeout(min(io_timeout, HELLO_TIMEOUT_S))
    try:
        if read_line(conn) != (f"PLINTH {token}\n").encode():
            return False
        conn.sendall((f"OK {json.dumps(info)}\n").encode())
    except (OSError, ConnectionError):
        return False
    conn.settimeout(io_timeout)
    return True


def _handle(conn: socket.socket, io_timeout: float, served: list, lock: threading.Lock, origin: float,
            token: str, info: dict) -> None:
    with conn:
        conn.settimeout(io_timeout)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        kind = b""
        try:
            if token and not answer_hello(conn, token, info, io_timeout):
                return  # another run's client (or a scanner) on a shared port: not ours, not counted
            kind = conn.recv(1)
            if kind == b"P":
                _serve_ping(conn)
                entry = {"kind": "ping"}
            elif kind == b"B":
                entry = dict(_serve_bandwidth(conn, origin), kind="bandwidth")
            else:
                return  # a port scanner, an empty connect: not a client
        except (OSError, ConnectionError) as exc:
            if kind not in (b"P", b"B"):
                return
            entry = {"kind": "broken", "error": str(exc)}  # a real client whose link broke: it counts
        with lock:
            served.append(entry)


def _any_address(family: int) -> str:
    return "::" if family == socket.AF_INET6 else "0.0.0.0"


def bind_first(family: int, ports: list) -> socket.socket:
    """A listening socket on the first of ``ports`` that is free; EADDRINUSE walks on to the next
    (another run, or any program, holds it). Other errors, or every port taken: OSError."""
    last = None
    for port in ports:
        srv = socket.socket(family, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            srv.bind((_any_address(family), int(port)))
            srv.listen(64)
            return srv
        except OSError as exc:
            srv.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            last = exc
    raise OSError(errno.EADDRINUSE, f"every candidate port is taken ({_ports_text(ports)}): {last}")


def _ports_text(ports: list) -> str:
    return str(ports[0]) if len(ports) == 1 else f"{ports[0]}..{ports[-1]}"


def _port_taken(family: int, port: int) -> bool:
    probe = socket.socket(family, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((_any_address(family), int(port)))
        return False
    except OSError:
        return True
    finally:
        probe.close()


def start_on_free_port(family: int, candidates: list, deadline: float) -> tuple:
    """Start the first ``[port, argv]`` of ``candidates`` whose server comes up: (proc, port, None),
    or (None, None, reason). A server that exits at once saying its port is in use (a race with
    another run) makes way for the next candidate."""
    reason = "no candidate port is free"
    for port, argv in candidates:
        if _port_taken(family, port):
            continue
        try:
            proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
        except OSError as exc:
            return None, None, f"cannot start {argv[0]}: {exc}"
        up_by = min(deadline, time.monotonic() + 5.0)
        while time.monotonic() < up_by:
            if proc.poll() is not None:
                break
            if _port_taken(family, port):  # it listens (our own bind now fails)
                return proc, int(port), None
            time.sleep(0.02)
        out = proc.communicate()[0] if proc.poll() is not None else b""
        text = out.decode("utf-8", "replace").strip()
        if "in use" in text.lower():
            reason = f"port {port}: {text[-200:]}"
            continue
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        return None, None, "{} did not start on port {}: {}".format(argv[0], port, text[-200:] or "no output")
    return None, None, reason


def serve(args: dict) -> int:
    family = socket.AF_INET6 if args.get("family") == "inet6" else socket.AF_INET
    deadline = time.monotonic() + float(args.get("deadline_s", 60.0))
    wanted = int(args.get("connections", 2))
    io_timeout = float(args.get("io_timeout_s", IO_TIMEOUT_S))
    token = str(args.get("token") or "")
    ports = list(args.get("ports") or [args.get("port", 0)])
    try:
        srv = bind_first(family, ports)
    except OSError as exc:
        _emit({"event": "error", "error": f"cannot listen on port {_ports_text(ports)}: {exc}"})
        return 1
    info = {"iperf3_port": None}  # type: dict
    extra = None
    if args.get("iperf3"):
        extra, info["iperf3_port"], why = start_on_free_port(family, args["iperf3"], deadline)
        if extra is None:
            info["iperf3_error"] = why
    _emit({"event": "listening", "port": srv.getsockname()[1], "iperf3_port": info["iperf3_port"]})
    served: list = []
    lock = threading.Lock()
    handlers = []
    origin = time.perf_counter()
    # one thread per connection: parallel bandwidth streams arrive at once
    while True:
        with lock:
            if len(served) >= wanted:
                break
        if time.monotonic() >= deadline:
            break
        srv.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
        try:
            conn, _ = srv.accept()
        except socket.timeout:  # python3.8 on the node: socket.timeout is not yet TimeoutError
            continue
        t = threading.Thread(target=_handle, args=(conn, max(0.1, min(io_timeout, deadline - time.monotonic())), served,
                                                   lock, origin, token, info))
        t.daemon = True
        t.start()
        handlers.append(t)
    srv.close()
    for t in handlers:
        t.join(max(0.0, deadline - time.monotonic()))
    if extra is not None:  # the iperf3 server exits after its one client (-1) or at its own timeout
        try:
            extra.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            extra.kill()
            extra.wait()
    with lock:
        done = list(served)
    if len(done) < wanted:
        _emit({"event": "done", "served": done, "reason": "deadline reached"})
    else:
        _emit({"event": "done", "served": done})
    return 0


def open_with_hello(host: str, ports: list, token: str, timeout_s: float, io_timeout_s: float) -> tuple:
    """(socket, port, listener info) for the first candidate whose listener answers this run's
    hello, retrying the list until ``timeout_s`` (the listener may still be starting). A candidate
    that refuses, closes or stays silent is another run's listener or nobody's: the next one."""
    deadline = time.monotonic() + timeout_s
    last_exc = None  # type: object
    while True:
        for port in ports:
            left = deadline - time.monotonic()
            try:
                sock = socket.create_connection((host, int(port)), timeout=max(0.2, min(2.0, left)))
            except OSError as exc:  # refused while the listener starts: try the others, then again
                last_exc = exc
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if not token:
                sock.settimeout(io_timeout_s)
                return sock, int(port), {}
            try:
                sock.settimeout(min(io_timeout_s, HELLO_TIMEOUT_S))
                sock.sendall((f"PLINTH {token}\n").encode())
                line = read_line(sock)
                if not line.startswith(b"OK "):
                    raise ConnectionError("unexpected answer to the hello")
                info = json.loads(line[3:].decode())
            except (OSError, ConnectionError, ValueError) as exc:
                sock.close()
                last_exc = f"port {port}: {exc}"
                continue
            sock.settimeout(io_timeout_s)
            return sock, int(port), info if isinstance(info, dict) else {}
        if time.monotonic() >= deadline:
            raise ConnectionError(f"cannot connect to {host}:{_ports_text(ports)} within {timeout_s:.1f}s: {last_exc}")
        time.sleep(0.05)


def _ping(host: str, ports: list, token: str, count: int, connect_timeout: float, io_timeout: float) -> tuple:
    """(round trips in ms, the listener's port, its hello info)."""
    msg = b"x" * PING_SIZE
    deadline = time.monotonic() + connect_timeout
    while True:
        sock, port, info = open_with_hello(host, ports, token, max(0.2, deadline - time.monotonic()), io_timeout)
        try:
            # The first echo doubles as a handshake: a proxy or NAT in the path may accept the TCP
            # connection and then drop it because the listener behind it is not up yet. Retry that
            # within the connect window, like a refused connection.
            sock.sendall(b"P")
            sock.sendall(msg)
            _recv_exact(sock, PING_SIZE)
            break
        except (OSError, ConnectionError):
            sock.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)
    try:
        rtts = []
        for _ in range(count):
            t0 = time.perf_counter()
            sock.sendall(msg)
            _recv_exact(sock, PING_SIZE)
            rtts.append((time.perf_counter() - t0) * 1000.0)
        return rtts, port, info  # the handshake echo above paid for slow start / ARP: not a steady-state sample
    finally:
        sock.close()


def _bandwidth(host: str, ports: list, token: str, duration_s: float, connect_timeout: float, io_timeout: float,
               start: threading.Barrier) -> dict:
    try:
        sock = open_with_hello(host, ports, token, connect_timeout, io_timeout)[0]
    except BaseException:
        start.abort()  # the other streams must not wait for this one
        raise
    try:
        # no SO_SNDBUF: the kernel's autotuning sizes the buffer to the path, so a slow link does not
        # queue megabytes that take longer to drain than the ack wait below
        sock.sendall(b"B")
        # every stream is connected before any sends: a SYN dropped behind another stream's data
        # (1 s retransmit) would otherwise start that stream late
        start.wait(connect_timeout)
        payload = memoryview(b"\0" * CHUNK)
        end = time.monotonic() + duration_s
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            # send() (not sendall) writes what fits and waits at most until the window ends: one
            # 1 MiB sendall takes seconds on a slow link and would stretch the run past duration_s.
            # The receiver counts what arrived, not this. No room for io_timeout: the link is dead.
            stalled = left > io_timeout
            sock.settimeout(min(left, io_timeout))
            try:
                sock.send(payload)
            except socket.timeout:  # python3.8 on the node
                if stalled:
                    raise
                break
        sock.settimeout(io_timeout)
        sock.shutdown(socket.SHUT_WR)
        # the server answers once it has drained everything: allow time for buffered data
        sock.settimeout(io_timeout + duration_s)
        line = b""
        while not line.endswith(b"\n"):
            part = sock.recv(4096)
            if not part:
                break
            line += part
        ack = json.loads(line.decode() or "null")
        if not isinstance(ack, dict):
            raise ConnectionError("server closed without acknowledging the bytes it received")
        return ack
    finally:
        sock.close()


def _bytes_before(ack: dict, k_end: int) -> int:
    """Bytes this stream's server counted in the buckets before bucket ``k_end``."""
    counts = ack.get("counts") or []
    return sum(int(c) for c in counts[:max(0, k_end - int(ack.get("bucket0") or 0))])


def window_rate(acks: list, duration_s: float) -> dict:
    """Combine the parallel streams' server acks into ``{"bytes", "seconds", "total_bytes", "window"}``.

    The rate is what the receiver got during the sender's window: from the first byte of any
    stream to ``duration_s`` later (the streams start together and the senders stop writing at
    ``duration_s``), bucket-aligned at the end. What arrives after that is excluded: the drain of
    the socket buffers and, above all, the tail of a stream whose last segment was lost and which
    waits out its retransmission timeout (200 ms and more, doubling) alone on an idle link.
    Dividing the total by the first-to-last-byte span counted those idle seconds as if the link
    were slow (0.68x at 10 Mbit/s behind a dropping tbf). iperf3 likewise times a fixed window.
    Stalls INSIDE the window still count: a link that stalls is slow. Without buckets (or with a
    window under MIN_WINDOW_BUCKETS) the whole span is used: conservative, never flattering.
    """
    total = sum(int(a.get("bytes") or 0) for a in acks)
    firsts = [float(a["first"]) for a in acks if a.get("first") is not None]
    lasts = [float(a["last"]) for a in acks if a.get("last") is not None]
    if not firsts or not lasts:
        return {"bytes": total, "seconds": 0.0, "total_bytes": total, "window": "span"}
    span = {"bytes": total, "seconds": max(lasts) - min(firsts), "total_bytes": total, "window": "span"}
    sizes = {float(a.get("bucket_s") or 0) for a in acks}
    b = sizes.pop() if len(sizes) == 1 else 0.0
    if b <= 0 or not all("counts" in a for a in acks):
        return span
    t0 = min(firsts)
    # never past the last byte: a window longer than the traffic would dilute the rate
    k_end = math.floor(min(t0 + duration_s, max(lasts)) / b)
    seconds = k_end * b - t0  # exact at the start: nothing arrived before the first byte
    if seconds < MIN_WINDOW_BUCKETS * b:
        return span
    inside = sum(_bytes_before(a, k_end) for a in acks)
    return {"bytes": inside, "seconds": seconds, "total_bytes": total, "window": "sender"}


def _parallel_bandwidth(host: str, ports: list, token: str, streams: int, duration_s: float, connect_timeout: float,
                        io_timeout: float) -> dict:
    """``streams`` TCP streams at once (one stream cannot fill a 100 Gbps link), started together
    once all are connected; the rate is :func:`window_rate` of the server's acks."""
    acks: list = []
    errors: list = []
    count = max(1, streams)
    start = threading.Barrier(count)

    def one() -> None:
        try:
            acks.append(_bandwidth(host, ports, token, duration_s, connect_timeout, io_timeout, start))
        except threading.BrokenBarrierError:
            errors.append("a parallel stream could not connect")
        except (OSError, ConnectionError, ValueError) as exc:
            start.abort()
            errors.append(f"{exc.__class__.__name__}: {exc}")

    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.daemon = True
        t.start()
    for t in threads:
        t.join(connect_timeout + duration_s + 2 * io_timeout + 5)
    if errors or len(acks) < len(threads):
        # the root cause first: "could not connect" only echoes another stream's failure
        errors.sort(key=lambda e: e == "a parallel stream could not connect")
        raise ConnectionError(errors[0] if errors else "a bandwidth stream did not finish")
    return window_rate(acks, duration_s)


def client(args: dict) -> int:
    host = str(args["host"])
    ports = [int(p) for p in (args.get("ports") or [args["port"]])]
    token = str(args.get("token") or "")
    out = {"latency_ms": None, "rtts_ms": [], "bandwidth_gbps": None, "bytes": None, "seconds": None,
           "streams": int(args.get("streams", 1)), "port": None, "iperf3_port": None, "error": None}
    connect_timeout = float(args.get("connect_timeout_s", 5.0))
    io_timeout = float(args.get("io_timeout_s", IO_TIMEOUT_S))
    try:
        pings = int(args.get("pings", 20))
        if pings > 0:
            rtts, port, info = _ping(host, ports, token, pings, connect_timeout, io_timeout)
            ports = [port]  # the streams go where this run's listener answered
            out.update(port=port, iperf3_port=info.get("iperf3_port"), iperf3_error=info.get("iperf3_error"))
            out["rtts_ms"] = [round(r, 4) for r in rtts]
            out["latency_ms"] = statistics.median(rtts)
        duration = float(args.get("duration_s", 0))
        if duration > 0:
            ack = _parallel_bandwidth(host, ports, token, out["streams"], duration, connect_timeout, io_timeout)
            out["bytes"] = ack["bytes"]
            out["seconds"] = ack["seconds"]
            out["total_bytes"] = ack["total_bytes"]
            out["window"] = ack["window"]
            if out["bytes"] and out["seconds"]:
                out["bandwidth_gbps"] = out["bytes"] * 8 / out["seconds"] / 1e9
            else:
                out["error"] = f"the server received too little data to time ({out['bytes']} bytes)"
    except (OSError, ConnectionError, ValueError) as exc:
        out["error"] = f"{exc.__class__.__name__}: {exc}"
    _emit(out)
    return 0


def dispatch(argv: list, tool: str, modes: dict) -> int:
    """Run the mode the JSON argument (``argv[1]``) names; bad arguments are one line on stderr
    and exit 2. Shared with validators/fabric/node_fabric.py."""
    try:
        args = json.loads(argv[1]) if len(argv) > 1 else {}
    except ValueError as exc:
        sys.stderr.write(f"{tool}: bad arguments: {exc}\n")
        return 2
    mode = modes.get(str(args.get("mode"))) if isinstance(args, dict) else None
    if mode is None:
        sys.stderr.write("{}: mode must be one of {}\n".format(tool, ", ".join(sorted(modes))))
        return 2
    try:
        return mode(args)
    except (KeyError, TypeError, ValueError) as exc:
        sys.stderr.write("{}: bad arguments for {}: {}\n".format(tool, args.get("mode"), exc))
        return 2


def main(argv: list) -> int:
    return dispatch(argv, "node_net", {"serve": serve, "client": client})


if __name__ == "__main__":
    sys.exit(main(sys.argv))
