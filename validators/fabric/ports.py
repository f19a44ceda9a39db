"""Ports chosen per run, so two runs against the same nodes never collide (pure, no I/O).

The listeners plinth starts on a node (the builtin network tool, the builtin ring all-reduce, the
rendezvous in front of ib_write_bw / fi_pingpong / iperf3 servers) never use a fixed port. Each
run draws, per listener, a short list of CANDIDATE ports from a documented range
(:data:`DEFAULT_RANGE`, ``--port-range``):

* the listener binds the first candidate that is free, walking on to the next on EADDRINUSE (a
  concurrent run, or any other program, holding one);
* the peer that connects tries the same candidates in order and sends a hello carrying this
  run's random :func:`run_token`; a listener answers only a hello with its own token, so a peer can
  never talk to another run's listener (or to a foreign service) on a shared port: it moves on.

Why candidates and a token rather than ``bind(0)``: a Transport's RunningCommand (an SSH exec, a
pod exec) cannot be read before it ends, so the controller cannot learn a kernel-chosen port
while the listener runs; a list both ends know in advance needs no such read. And a range lets an
operator open exactly that range between nodes (security group, host firewall) instead of every
ephemeral port.

The default range sits below Linux's ephemeral range (32768-60999, where outgoing connections take
their local ports) and below Kubernetes' NodePort range (30000-32767).
"""

from __future__ import annotations

import random
import re
import secrets
from dataclasses import dataclass

from policies.errors import ConfigError

DEFAULT_RANGE = (28100, 28999)
CANDIDATES = 12  # per listener: enough to walk past a few taken ports, few enough to scan fast


@dataclass(frozen=True)
class PortRange:
    low: int = DEFAULT_RANGE[0]
    high: int = DEFAULT_RANGE[1]

    def __post_init__(self) -> None:
        if not 1024 <= self.low <= self.high <= 65535:
            raise ValueError(f"port range {self.low}-{self.high}: expected 1024 <= LOW <= HIGH <= 65535")

    @property
    def size(self) -> int:
        return self.high - self.low + 1

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


def parse_range(text: str, field: str = "--port-range") -> PortRange:
    """``"28100-28999"`` -> PortRange; bad input is a ConfigError naming ``field``."""
    m = re.fullmatch(r"\s*(\d{1,5})\s*-\s*(\d{1,5})\s*", text or "")
    if not m:
        raise ConfigError(f"{field}: expected LOW-HIGH (e.g. {DEFAULT_RANGE[0]}-{DEFAULT_RANGE[1]}), got {text!r}")
    try:
        rng = PortRange(int(m.group(1)), int(m.group(2)))
    except ValueError as exc:
        raise ConfigError(f"{field}: {exc}") from None
    if rng.size < CANDIDATES:
        raise ConfigError(f"{field}: {rng} has {rng.size} ports; give at least {CANDIDATES}")
    return rng


def candidates(rng: PortRange, rnd: random.Random | None = None, count: int = CANDIDATES) -> list[int]:
    """``count`` consecutive ports of ``rng`` from a random start (wrapping at the end)."""
    rnd = rnd or random.SystemRandom()
    count = min(count, rng.size)
    start = rnd.randrange(rng.size)
    return [rng.low + (start + i) % rng.size for i in range(count)]


def run_token() -> str:
    """A random token for one run's hellos (not a secret: it tells runs apart, it guards nothing)."""
    return secrets.token_hex(8)


__all__ = ["CANDIDATES", "DEFAULT_RANGE", "PortRange", "candidates", "parse_range", "run_token"]
