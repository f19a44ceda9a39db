"""plinth's node-side fabric tool. Runs ON THE NODE: stdlib only, python3.8+.

Streamed like the network tool (``python3 - '<json-args>'``, see validators/fabric/payload.py),
together with validators/network/node_net.py, whose port helpers it uses (candidate ports walked
past EADDRINUSE, the per-run hello; see validators/fabric/ports.py). Modes:

``{"mode": "which", "tools": [...], "dirs": [...]}``
    Where each tool is (PATH, then ``dirs``): ``{"tools": {name: path|null}}``.

``{"mode": "serve-tool", "ports": [...], "token": T, "tool": [[port, argv], ...], "deadline_s": D}``
    Start a tool's server (ib_write_bw, fi_pingpong) on the first candidate port it can take, then
    answer one client's hello on a rendezvous port with ``{"tool_port": P}``; wait for the server
    to finish (killed at the deadline). Prints ``{"tool_port", "exit", "output", "error"}``.

``{"mode": "client-tool", "host": H, "ports": [...], "token": T, "tool": {"<port>": argv}, "timeout_s": S}``
    Ask the rendezvous which port the server took, run the client argv for it (bounded). Prints
    ``{"tool_port", "exit", "output", "seconds", "timed_out", "error"}``.

``{"mode": "ring", "rank": r, "n": n, "token": T, "ports": [...], "next": {"host", "ports"},
"message_bytes": S, "iterations": k, "warmup": w, "streams": L, ...}``
    One rank of the builtin ring all-reduce (reduce-scatter then all-gather, 2(n-1) steps on
    chunks of S/n, XOR as the reduction so the result is checked exactly; each hop is L parallel
    TCP connections, a chunk one slice per connection). Every iteration starts
    with a two-pass token barrier around the ring; the release token ("G") is followed on the
    same stream by the step-0 chunk, and step 0 has no data dependency (each rank sends its own
    chunk), so the time from receiving "G" to the last byte of step 0 is the in-link's own
    transfer time: every hop measured in isolation although every later step waits on the
    slowest one. Prints ``{"rank", "port", "chunk_bytes", "iterations": [{"seconds", "step0_s",
    "steps_s", "wrong"}], "error"}``.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time

try:  # on the node the payload bundles node_net beside this module (validators/fabric/payload.py)
    import plinth_node_net as net  # pyright: ignore[reportMissingImports]
except ImportError:  # on the controller (tests, type checking)
    from validators.network import node_net as net

OUTPUT_LIMIT = 256 * 1024  # bytes of a tool's output kept (its summary is at the end)
REDUCE_BLOCK = 256 * 1024  # largest block a chunk is received, reduced and forwarded in (~1 ms of CPU)
PIPELINE_BLOCKS = 8
MIN_BLOCK = 16 * 1024
_emit_lock = threading.Lock()


def emit(obj: dict) -> None:
    with _emit_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def _tail(data: bytes) -> str:
    return data[-OUTPUT_LIMIT:].decode("utf-8", "replace")


def which(args: dict) -> int:
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d] + [str(d) for d in args.get("dirs") or []]
    found = {}
    for tool in args.get("tools") or []:
        found[tool] = None
        for d in dirs:
            path = os.path.join(d, str(tool))
            if os.path.isfile(path) and os.access(path, os.X_OK):
                found[tool] = path
                break
    emit({"tools": found})
    return 0


def _family(args: dict) -> int:
    return socket.AF_INET6 if args.get("family") == "inet6" else socket.AF_INET


def serve_tool(args: dict) -> int:
    deadline = time.monotonic() + float(args.get("deadline_s", 60.0))
    family = _family(args)
    io_timeout = float(args.get("io_timeout_s", 10.0))
    try:
        srv = net.bind_first(family, list(args["ports"]))
    except OSError as exc:
        emit({"tool_port": None, "exit": None, "output": "", "error": f"rendezvous: cannot listen: {exc}"})
        return 0
    proc, port, why = net.start_on_free_port(family, args["tool"], deadline)
    answered = False
    while not answered and time.monotonic() < deadline:
        srv.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
        try:
            conn, _ = srv.accept()
        except socket.timeout:  # python3.8 on the node: not yet TimeoutError
            continue
        with conn:
            answered = net.answer_hello(conn, str(args["token"]), {"tool_port": port, "error": why}, io_timeout)
    srv.close()
    if proc is None:
        emit({"tool_port": None, "exit": None, "output": "", "error": why})
        return 0
    try:
        out = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))[0]
        code = proc.returncode  # type: object
    except subprocess.TimeoutExpired:
        proc.kill()
        out, code = proc.communicate()[0], None
    emit({"tool_port": port, "exit": code, "output": _tail(out or b""),
          "error": None if answered else "no client came before the deadline"})
    return 0


def client_tool(args: dict) -> int:
    t0 = time.monotonic()
    result = {"tool_port": None, "exit": None, "output": "", "seconds": None, "timed_out": False, "error": None}
    try:
        sock, _, info = net.open_with_hello(str(args["host"]), list(args["ports"]), str(args["token"]),
                                            float(args.get("connect_timeout_s", 10.0)), float(args.get("io_timeout_s", 10.0)))
        sock.close()
    except (OSError, ConnectionError) as exc:
        result["error"] = f"rendezvous with the server: {exc}"
        emit(result)
        return 0
    port = info.get("tool_port")
    argv = (args.get("tool") or {}).get(str(port))
    if argv is None:
        result["error"] = "the server side did not start: %s" % (info.get("error") or "no port")
        emit(result)
        return 0
    result["tool_port"] = port
    try:
        proc = subprocess.run([str(a) for a in argv], check=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=float(args.get("timeout_s", 60.0)))
        result.update(exit=proc.returncode, output=_tail(proc.stdout))
    except subprocess.TimeoutExpired as exc:
        result.update(timed_out=True, output=_tail(exc.output or b""))
    except OSError as exc:
        result["error"] = f"cannot run {argv[0]}: {exc}"
    result["seconds"] = round(time.monotonic() - t0, 3)
    emit(result)
    return 0


# --- the builtin ring all-reduce -------------------------------------------------------------


def chunk_value(rank: int, chunk: int) -> int:
    """The byte rank ``rank`` fills chunk ``chunk`` with: distinct per (rank, chunk), never 0."""
    return 1 + (rank * 131 + chunk * 71) % 251


def expected_value(n: int, chunk: int) -> int:
    v = 0
    for r in range(n):
        v ^= chunk_value(r, chunk)
    return v


def _xor(a: bytes | memoryview, b: bytes | memoryview) -> bytes:
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(len(a), "little")


def _recv_exact(sock: socket.socket, size: int) -> memoryview:
    """``size`` bytes, as a view on a buffer of their own (no copy: the ring forwards it as is)."""
    view = memoryview(bytearray(size))
    got = 0
    while got < size:
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            raise ConnectionError("the previous rank closed the connection")
        got += n
    return view


class _Sender:
    """Sends queued blocks to the next rank in order, so a rank sends and receives at once."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.q = queue.Queue()  # type: queue.Queue
        self.error = None  # type: object
        self._pending = 0
        self._cv = threading.Condition()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            data = self.q.get()
            if data is None:
                return
            try:
                if self.error is None:
                    self.sock.sendall(data)
            except (OSError, ConnectionError) as exc:
                self.error = exc
            with self._cv:
                self._pending -= 1
                self._cv.notify_all()

    def put(self, data: bytes | memoryview) -> None:
        with self._cv:
            self._pending += 1
        self.q.put(data)

    def drain(self, timeout: float) -> None:
        with self._cv:
            if not self._cv.wait_for(lambda: self._pending == 0, timeout):
                raise ConnectionError(f"sending to the next rank stalled for {timeout:.0f} s")
        if self.error is not None:
            raise ConnectionError(f"sending to the next rank: {self.error}")

    def close(self) -> None:
        self.q.put(None)


def _cuts(size: int, parts: int) -> list:
    width = -(-size // parts)
    return [(min(size, i * width), min(size, (i + 1) * width)) for i in range(parts)]


def _blocks(size: int) -> int:
    """How many blocks a channel's slice travels in: at least PIPELINE_BLOCKS (a hop forwards a
    block as soon as it has it, so the finer the blocks the less a step waits for the one before),
    at most REDUCE_BLOCK bytes each, never below MIN_BLOCK (Python's cost per block)."""
    return max(1, min(max(PIPELINE_BLOCKS, -(-size // REDUCE_BLOCK)), size // MIN_BLOCK))


def _channel(rank: int, n: int, chunks: list, prev: socket.socket, sender: _Sender, t_go: float, out: dict) -> None:
    """One channel's all-reduce of its slice of every chunk, pipelined block by block: each block
    received is reduced (reduce-scatter) or kept (all-gather) and sent on at once, so a hop never
    idles between steps. Step 0's send -- this rank's own slice -- was queued whole right behind
    the barrier's "G" (_Link.begin), so its arrival times the in-link alone."""
    try:
        steps = []
        t_a = t_go
        last = 2 * (n - 1) - 1
        for s in range(last + 1):
            idx = (rank - s - 1) % n if s < n - 1 else (rank - (s - n + 1)) % n
            acc = memoryview(chunks[idx])
            parts = []
            for a, b in _cuts(len(acc), _blocks(len(acc))):
                data = _recv_exact(prev, b - a)
                block = _xor(data, acc[a:b]) if s < n - 1 else data  # views all along: no extra copy
                parts.append(block)
                if s < last:
                    sender.put(block)
            chunks[idx] = b"".join(parts)
            now = time.perf_counter()
            steps.append(now - t_a)
            t_a = now
        out["steps"] = steps
    except (OSError, ConnectionError) as exc:
        out["error"] = exc


class _Link:
    """The channels of one hop (parallel TCP connections, each with its own slice of every chunk):
    one TCP flow cannot fill a fast link, and clouds cap each flow (AWS: 5 Gbps outside a cluster
    placement group), so the ring runs several, as NCCL runs several channels."""

    def __init__(self, prev: list, nxt: list, io_timeout: float) -> None:
        self.prev, self.nxt, self.io_timeout = prev, nxt, io_timeout
        self.senders = [_Sender(sk) for sk in nxt]

    def token(self, value: bytes) -> None:
        self.senders[0].put(value)

    def expect(self, value: bytes) -> None:
        got = self.prev[0].recv(1)  # channel 0 carries the barrier, read while no channel receives
        if got != value:
            raise ConnectionError(f"ring protocol: expected {value!r} from the previous rank, got {got!r}")

    def begin(self, rank: int, chunks: list) -> list:
        """Queue step 0 (this rank's own slice) on every channel; the channels' slices."""
        cuts = _cuts(len(chunks[0]), len(self.senders))
        mine = [[c[a:b] for c in chunks] for a, b in cuts]
        for sender, slices in zip(self.senders, mine):
            sender.put(slices[rank])
        return mine

    def run(self, rank: int, n: int, mine: list, t_go: float) -> tuple:
        """(chunks reduced, per-step seconds: for each step the slowest channel's, the in-link's rate
        in step 0 in bytes/s: the channels' rates summed -- a channel done with step 0 already
        carries step 1, so the slowest channel's time alone would undercount the link)."""
        results = [{} for _ in mine]  # type: list
        workers = []
        for k, slices in enumerate(mine):
            t = threading.Thread(target=_channel, args=(rank, n, slices, self.prev[k], self.senders[k], t_go, results[k]),
                                 daemon=True)
            t.start()
            workers.append(t)
        for t in workers:
            t.join(self.io_timeout * 2 * n)
        for r in results:
            if r.get("error") is not None or "steps" not in r:
                raise ConnectionError(f"receiving from the previous rank: {r.get('error') or 'stalled'}")
        self.flush()
        reduced = [b"".join(slices[c] for slices in mine) for c in range(n)]
        steps = [max(r["steps"][i] for r in results) for i in range(len(results[0]["steps"]))]
        rate = sum(len(slices[0]) / max(r["steps"][0], 1e-9) for slices, r in zip(mine, results))
        return reduced, steps, rate

    def flush(self) -> None:
        for sender in self.senders:
            sender.drain(self.io_timeout)

    def close(self) -> None:
        for sender in self.senders:
            sender.close()
        for sk in (*self.prev, *self.nxt):
            sk.close()


def _accept_lanes(srv: socket.socket, expected: dict, deadline: float, io_timeout: float) -> list:
    """The previous rank's lanes, by the token each hello carries (another run's, or another
    rank's, connection is closed unanswered)."""
    lanes = [None] * len(expected)  # type: list
    while not all(lanes) and time.monotonic() < deadline:
        srv.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
        try:
            conn, _ = srv.accept()
        except socket.timeout:  # python3.8 on the node: not yet TimeoutError
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(min(io_timeout, net.HELLO_TIMEOUT_S))
        try:
            line = net.read_line(conn).decode("ascii", "replace").strip()
            lane = expected.get(line[len("PLINTH "):]) if line.startswith("PLINTH ") else None
            if lane is None or lanes[lane] is not None:
                raise ConnectionError("not a lane of this ring")
            conn.sendall(b"OK {}\n")
        except (OSError, ConnectionError):
            conn.close()
            continue
        conn.settimeout(io_timeout)
        lanes[lane] = conn
    return lanes


def _connect_ring(args: dict, srv: socket.socket, lanes: int) -> tuple:
    """(lanes from the previous rank, lanes to the next rank). Hellos carry the sender's rank and
    the lane, so a rank accepts only its own predecessor of this run."""
    rank, n, token = int(args["rank"]), int(args["n"]), str(args["token"])
    timeout = float(args.get("connect_timeout_s", 20.0))
    io_timeout = float(args.get("io_timeout_s", 30.0))
    box = {"next": []}  # type: dict

    def dial() -> None:
        ports = list(args["next"]["ports"])
        try:
            for lane in range(lanes):
                sk, port, _ = net.open_with_hello(str(args["next"]["host"]), ports, f"{token}.{rank}.{lane}", timeout,
                                                  io_timeout)
                box["next"].append(sk)
                ports = [port]  # the other lanes go where the first one was answered
        except (OSError, ConnectionError) as exc:
            box["error"] = f"connecting to the next rank: {exc}"

    dialer = threading.Thread(target=dial, daemon=True)
    dialer.start()
    deadline = time.monotonic() + timeout
    expected = {f"{token}.{(rank - 1) % n}.{lane}": lane for lane in range(lanes)}
    prev = _accept_lanes(srv, expected, deadline, io_timeout)
    dialer.join(max(0.0, deadline - time.monotonic()) + 1.0)
    if not all(prev) or len(box["next"]) < lanes:
        for sk in [*prev, *box["next"]]:
            if sk is not None:
                sk.close()
        raise ConnectionError(box.get("error") or f"the previous rank did not connect within {timeout:.0f} s")
    return prev, box["next"]


def _barrier(rank: int, link: _Link, stop: bool) -> bool:
    """The first pass of the barrier: "A" (everyone has arrived, go on) or "S" (stop: rank 0 decides,
    every rank agrees, so all run the same number of iterations). True: stop."""
    if rank == 0:
        link.token(b"S" if stop else b"A")
        link.expect(b"S" if stop else b"A")
        return stop
    got = link.prev[0].recv(1)
    if got not in (b"A", b"S"):
        raise ConnectionError(f"ring protocol: expected a barrier token from the previous rank, got {got!r}")
    link.token(got)
    if got == b"S":
        link.flush()  # the "S" must reach the next rank before this one closes its connections
    return got == b"S"


def _iteration(rank: int, n: int, chunk: int, link: _Link) -> dict:
    """One all-reduce, after the barrier's first pass; its second pass ("G") releases the ring and
    each rank's own step-0 slices leave right behind the "G" it passes on."""
    chunks = [bytes([chunk_value(rank, c)]) * chunk for c in range(n)]
    if rank == 0:
        t0 = time.perf_counter()
        link.token(b"G")
        mine = link.begin(rank, chunks)
        link.expect(b"G")
        t_go = time.perf_counter()
    else:
        link.expect(b"G")
        t_go = t0 = time.perf_counter()
        link.token(b"G")
        mine = link.begin(rank, chunks)
    chunks, steps, rate = link.run(rank, n, mine, t_go)
    seconds = time.perf_counter() - t0
    wrong = sum(1 for c in range(n) if chunks[c] != bytes([expected_value(n, c)]) * chunk)
    return {"seconds": round(seconds, 6), "step0_s": round(steps[0], 6), "in_gbps": round(rate * 8 / 1e9, 6),
            "steps_s": [round(x, 6) for x in steps], "wrong": wrong}


def _iterations(args: dict, rank: int, n: int, chunk: int, link: _Link, out: dict, deadline_s: float,
                start: float) -> None:
    """Warm-up then timed iterations. A ring so slow that the next iteration would overrun the
    budget (60% of the bound, counted from ``start``: when this rank began) stops early -- its
    verdict is plain after one -- keeping the warm-up as the measurement when no timed iteration
    fits, rather than ending in a timeout with no figure."""
    warmup, wanted = int(args.get("warmup", 1)), int(args.get("iterations", 5))
    budget = 0.6 * deadline_s
    last = None
    for i in range(warmup + wanted):
        elapsed = time.perf_counter() - start
        stop = rank == 0 and last is not None and elapsed + last["seconds"] > budget
        if _barrier(rank, link, stop):
            if not out["iterations"] and last is not None:
                out["iterations"].append(dict(last, warmup=True))
            out["stopped_early"] = True
            return
        out["phase"] = f"iteration {i + 1}"
        last = _iteration(rank, n, chunk, link)
        if i >= warmup:
            out["iterations"].append(last)


def ring(args: dict) -> int:
    rank, n = int(args["rank"]), int(args["n"])
    lanes = max(1, int(args.get("streams", 1)))
    out = {"rank": rank, "port": None, "chunk_bytes": None, "streams": lanes, "iterations": [], "error": None,
           "phase": "listen"}
    deadline_s = float(args.get("deadline_s", 120.0))
    started = time.perf_counter()

    def give_up() -> None:  # a rank that still runs at its deadline says so and leaves
        out["error"] = "ring did not finish within its {:.0f} s bound (phase: {})".format(deadline_s, out["phase"])
        emit(out)
        os._exit(0)

    watchdog = threading.Timer(deadline_s, give_up)
    watchdog.daemon = True
    watchdog.start()
    chunk = max(lanes, -(-int(args["message_bytes"]) // n))
    out["chunk_bytes"] = chunk
    try:
        srv = net.bind_first(_family(args), list(args["ports"]))
        out["port"] = srv.getsockname()[1]
        out["phase"] = "connect"
        prev, nxt = _connect_ring(args, srv, lanes)
        srv.close()
        link = _Link(prev, nxt, float(args.get("io_timeout_s", 30.0)))
        try:
            _iterations(args, rank, n, chunk, link, out, deadline_s, started)
        finally:
            link.close()
    except (OSError, ConnectionError) as exc:
        out["error"] = "{} (phase: {})".format(exc, out["phase"])
    watchdog.cancel()
    out["phase"] = "done"
    emit(out)
    return 0


MODES = {"which": which, "serve-tool": serve_tool, "client-tool": client_tool, "ring": ring}


def main(argv: list) -> int:
    return net.dispatch(argv, "node_fabric", MODES)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
