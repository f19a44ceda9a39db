"""plinth's builtin node-to-node TCP tool. Runs ON THE NODE: stdlib only, python3.8+.

It is streamed over the Transport like the probe (``python3 - '<json-args>'`` with this file on
stdin), so nothing is installed on the node. Two modes:

``{"mode": "serve", "port": P, "connections": K, "deadline_s": T, "family": "inet"|"inet6"}``
    Listen on P (0: any free port), print ``{"event": "listening", "port": <bound>}`` once bound,
    then serve K connections (each in its own thread: parallel streams arrive together) and exit
    (or exit at the deadline, so nothing lingers on the node). The first byte of a connection says what it wants:
    ``P`` ping: echo every message back (latency); ``B`` bandwidth: count bytes until the client
    half-closes, then answer one JSON line ``{"bytes": n, "seconds": s}`` -- the RECEIVER's count
    and the time from its first to its last byte, so data still sitting in socket buffers when
    the sender stops is never counted as delivered. Ends with ``{"event": "done", ...}``.

``{"mode": "client", "host": H, "port": P, "pings": 20, "duration_s": D, "streams": S,
"connect_timeout_s": C, "io_timeout_s": I}``
    Connect (retrying until C: the server may still be starting), send ``pings`` small messages
    with TCP_NODELAY and report the median round trip; then, if D > 0, stream large buffers over S
    parallel connections for D seconds and report the bandwidth the server acknowledges (its
    total bytes over its own span from first to last byte). Prints one JSON object:
    ``{"latency_ms": m, "rtts_ms": [...], "bandwidth_gbps": g, "bytes": n, "seconds": s,
    "error": reason|null}``.

Every socket operation has a timeout (``io_timeout_s``, default 10 s: a link that dies mid-stream
ends the run within it); failures are reported in ``error`` (exit 0 with JSON), a
bad invocation exits 2.
"""

from __future__ import annotations

import json
import socket
import statistics
import sys
import threading
import time

PING_SIZE = 64
CHUNK = 1 << 20  # 1 MiB sendall buffers keep per-call overhead negligible even at 100 Gbps
IO_TIMEOUT_S = 10.0


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


def _serve_bandwidth(conn: socket.socket) -> dict:
    total = 0
    first = last = None
    view = bytearray(CHUNK)
    while True:
        n = conn.recv_into(view)
        if n == 0:
            break
        now = time.perf_counter()
        if first is None:
            first = now
        last = now
        total += n
    # first/last are this process's perf_counter: the client combines parallel streams with them
    result = {"bytes": total, "first": first, "last": last,
              "seconds": (last - first) if first is not None and last is not None else 0.0}
    conn.sendall((json.dumps(result) + "\n").encode())
    return result


def _handle(conn: socket.socket, io_timeout: float, served: list, lock: threading.Lock) -> None:
    with conn:
        conn.settimeout(io_timeout)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        kind = b""
        try:
            kind = conn.recv(1)
            if kind == b"P":
                _serve_ping(conn)
                entry = {"kind": "ping"}
            elif kind == b"B":
                entry = dict(_serve_bandwidth(conn), kind="bandwidth")
            else:
                return  # a port scanner, an empty connect: not a client
        except (OSError, ConnectionError) as exc:
            if kind not in (b"P", b"B"):
                return
            entry = {"kind": "broken", "error": str(exc)}  # a real client whose link broke: it counts
        with lock:
            served.append(entry)


def serve(args: dict) -> int:
    family = socket.AF_INET6 if args.get("family") == "inet6" else socket.AF_INET
    deadline = time.monotonic() + float(args.get("deadline_s", 60.0))
    wanted = int(args.get("connections", 2))
    io_timeout = float(args.get("io_timeout_s", IO_TIMEOUT_S))
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", int(args.get("port", 0))))
        srv.listen(64)
    except OSError as exc:
        _emit({"event": "error", "error": f"cannot listen on port {args.get('port')}: {exc}"})
        return 1
    _emit({"event": "listening", "port": srv.getsockname()[1]})
    served: list = []
    lock = threading.Lock()
    handlers = []
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
        except socket.timeout:  # noqa: UP041 - python3.8 on the node: socket.timeout is not yet TimeoutError
            continue
        t = threading.Thread(target=_handle, args=(conn, max(0.1, min(io_timeout, deadline - time.monotonic())), served, lock))
        t.daemon = True
        t.start()
        handlers.append(t)
    for t in handlers:
        t.join(max(0.0, deadline - time.monotonic()))
    with lock:
        done = list(served)
    if len(done) < wanted:
        _emit({"event": "done", "served": done, "reason": "deadline reached"})
    else:
        _emit({"event": "done", "served": done})
    return 0


def _connect(host: str, port: int, timeout_s: float, io_timeout_s: float) -> socket.socket:
    deadline = time.monotonic() + timeout_s
    last_exc = None
    while time.monotonic() < deadline:
        try:
            sock = socket.create_connection((host, port), timeout=max(0.2, min(2.0, deadline - time.monotonic())))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(io_timeout_s)
            return sock
        except OSError as exc:  # refused while the listener starts: retry until the deadline
            last_exc = exc
            time.sleep(0.05)
    raise ConnectionError(f"cannot connect to {host}:{port} within {timeout_s:.1f}s: {last_exc}")


def _ping(host: str, port: int, count: int, connect_timeout: float, io_timeout: float) -> list:
    msg = b"x" * PING_SIZE
    deadline = time.monotonic() + connect_timeout
    while True:
        sock = _connect(host, port, max(0.2, deadline - time.monotonic()), io_timeout)
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
        return rtts  # the handshake echo above paid for slow start / ARP: not a steady-state sample
    finally:
        sock.close()


def _bandwidth(host: str, port: int, duration_s: float, connect_timeout: float, io_timeout: float) -> dict:
    sock = _connect(host, port, connect_timeout, io_timeout)
    try:
        # no SO_SNDBUF: the kernel's autotuning sizes the buffer to the path, so a slow link does not
        # queue megabytes that take longer to drain than the ack wait below
        sock.sendall(b"B")
        payload = b"\0" * CHUNK
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            sock.sendall(payload)
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


def _parallel_bandwidth(host: str, port: int, streams: int, duration_s: float, connect_timeout: float,
                        io_timeout: float) -> dict:
    """``streams`` TCP streams at once (one stream cannot fill a 100 Gbps link); the rate is the
    server's total received bytes over its span from the first stream's first byte to the last
    stream's last byte."""
    acks: list = []
    errors: list = []

    def one() -> None:
        try:
            acks.append(_bandwidth(host, port, duration_s, connect_timeout, io_timeout))
        except (OSError, ConnectionError, ValueError) as exc:
            errors.append(f"{exc.__class__.__name__}: {exc}")

    threads = [threading.Thread(target=one) for _ in range(max(1, streams))]
    for t in threads:
        t.daemon = True
        t.start()
    for t in threads:
        t.join(connect_timeout + duration_s + 2 * io_timeout + 5)
    if errors or len(acks) < len(threads):
        raise ConnectionError(errors[0] if errors else "a bandwidth stream did not finish")
    firsts = [a["first"] for a in acks if a.get("first") is not None]
    lasts = [a["last"] for a in acks if a.get("last") is not None]
    total = sum(int(a.get("bytes") or 0) for a in acks)
    span = (max(lasts) - min(firsts)) if firsts and lasts else 0.0
    return {"bytes": total, "seconds": span}


def client(args: dict) -> int:
    host = str(args["host"])
    port = int(args["port"])
    out = {"latency_ms": None, "rtts_ms": [], "bandwidth_gbps": None, "bytes": None, "seconds": None,
           "streams": int(args.get("streams", 1)), "error": None}
    connect_timeout = float(args.get("connect_timeout_s", 5.0))
    io_timeout = float(args.get("io_timeout_s", IO_TIMEOUT_S))
    try:
        pings = int(args.get("pings", 20))
        if pings > 0:
            rtts = _ping(host, port, pings, connect_timeout, io_timeout)
            out["rtts_ms"] = [round(r, 4) for r in rtts]
            out["latency_ms"] = statistics.median(rtts)
        duration = float(args.get("duration_s", 0))
        if duration > 0:
            ack = _parallel_bandwidth(host, port, out["streams"], duration, connect_timeout, io_timeout)
            out["bytes"] = ack["bytes"]
            out["seconds"] = ack["seconds"]
            if out["bytes"] and out["seconds"]:
                out["bandwidth_gbps"] = out["bytes"] * 8 / out["seconds"] / 1e9
            else:
                out["error"] = f"the server received too little data to time ({out['bytes']} bytes)"
    except (OSError, ConnectionError, ValueError) as exc:
        out["error"] = f"{exc.__class__.__name__}: {exc}"
    _emit(out)
    return 0


def main(argv: list) -> int:
    try:
        args = json.loads(argv[1]) if len(argv) > 1 else {}
    except ValueError as exc:
        sys.stderr.write(f"node_net: bad arguments: {exc}\n")
        return 2
    mode = args.get("mode") if isinstance(args, dict) else None
    if mode == "serve":
        return serve(args)
    if mode == "client":
        return client(args)
    sys.stderr.write("node_net: mode must be serve or client\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
