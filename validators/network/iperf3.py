"""iperf3 driver pieces: argv builders and the JSON parser (pure; the I/O is in pairwise.py).

The bandwidth that counts is ``end.sum_received.bits_per_second``: what the receiver got, not what
the sender pushed into its socket buffers (iperf 3.9's bytes-mode fixture shows the two differ).
Both commands are wrapped in coreutils ``timeout`` so a listener whose client never came cannot
linger on the node after plinth has gone.
"""

from __future__ import annotations

import json
import math
from typing import Any


class Iperf3Error(Exception):
    """The iperf3 run gave no usable bandwidth; ``str(exc)`` is the reason for the report."""


def server_argv(port: int, timeout_s: float) -> list[str]:
    return ["timeout", str(max(1, math.ceil(timeout_s))), "iperf3", "-s", "-1", "-p", str(port)]


def client_argv(address: str, port: int, duration_s: float, timeout_s: float, streams: int = 1) -> list[str]:
    # -t takes whole seconds in iperf 3.9 and earlier: round up so a short test is never 0 ("forever")
    seconds = str(max(1, math.ceil(duration_s)))
    argv = ["timeout", str(max(1, math.ceil(timeout_s))), "iperf3", "-c", address, "-p", str(port), "-t", seconds]
    if streams > 1:
        argv += ["-P", str(streams)]  # end.sum_received then sums every stream
    return [*argv, "-J"]


def parse_client_json(text: str | bytes) -> float:
    """Gbps received by the server, from ``iperf3 -c ... -J`` output; Iperf3Error otherwise."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    start = text.find("{")
    if start < 0:
        first = text.strip().splitlines()[0] if text.strip() else "(empty output)"
        raise Iperf3Error(f"iperf3 did not print JSON (was -J honoured?): {first[:120]}")
    try:
        doc: Any = json.loads(text[start:])
    except json.JSONDecodeError as exc:
        raise Iperf3Error(f"iperf3 printed truncated or invalid JSON: {exc.msg} at char {exc.pos}") from None
    if not isinstance(doc, dict):
        raise Iperf3Error("iperf3 JSON is not an object")
    if doc.get("error"):
        raise Iperf3Error(f"iperf3: {doc['error']}")
    received = (doc.get("end") or {}).get("sum_received") or {}
    bps = received.get("bits_per_second")
    if not isinstance(bps, (int, float)) or isinstance(bps, bool):
        raise Iperf3Error("iperf3 JSON has no end.sum_received.bits_per_second")
    return float(bps) / 1e9


def is_connect_refused(text: str | bytes) -> bool:
    """True when the client ran before the listener was up (worth a retry, not a verdict)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "unable to connect" in text or "Connection refused" in text
