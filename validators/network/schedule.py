"""Which node measures which, and when: pure functions, no I/O.

Ring pairing: node i sends to node (i+1) mod N, so every node is a client exactly once and a
server exactly once, N pairs in all. The pairs are split into rounds that are matchings (no node
in two pairs of one round, so no node serves and sends at once and the pairs of a round can run in
parallel): even-indexed pairs, then odd-indexed pairs -- two rounds for even N; for odd N the
closing pair (N-1 -> 0) shares node 0 with pair 0 and node N-1 with pair N-2, so it gets a third
round. That is optimal: an odd ring's N pairs cannot be covered by two matchings of (N-1)/2 pairs.
So any fleet size takes at most 3 rounds, not N-1 (all-to-all) or N**2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    client: str  # sends (runs the client / iperf3 -c)
    server: str  # listens (runs the listener / iperf3 -s)


def ring_rounds(nodes: Sequence[str]) -> list[list[Pair]]:
    """Rounds of pairs for a ring over ``nodes`` (in the given order). Fewer than 2 nodes: none."""
    n = len(nodes)
    if n < 2:
        return []
    if n == 2:  # the "ring" is a <-> b: the two directions need the same two nodes, so two rounds
        return [[Pair(nodes[0], nodes[1])], [Pair(nodes[1], nodes[0])]]
    pairs = [Pair(nodes[i], nodes[(i + 1) % n]) for i in range(n)]
    if n % 2 == 0:
        return [pairs[0::2], pairs[1::2]]
    return [pairs[0 : n - 1 : 2], pairs[1 : n - 1 : 2], [pairs[n - 1]]]
