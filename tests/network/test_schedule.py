"""The ring scheduler: every node measured as client and server, O(1) rounds, no double roles."""

from __future__ import annotations

import pytest

from validators.network.schedule import ring_rounds


@pytest.mark.parametrize("n", range(2, 10))
def test_ring_rounds_cover_every_node_in_at_most_three_rounds(n: int) -> None:
    nodes = [f"n{i}" for i in range(n)]
    rounds = ring_rounds(nodes)
    assert 2 <= len(rounds) <= 3
    assert len(rounds) == (2 if n % 2 == 0 or n == 2 else 3)
    pairs = [p for r in rounds for p in r]
    # every node is a client once and a server once, with two different roles' peers
    assert sorted(p.client for p in pairs) == sorted(nodes)
    assert sorted(p.server for p in pairs) == sorted(nodes)
    assert all(p.client != p.server for p in pairs)
    for r in rounds:
        seen = [x for p in r for x in (p.client, p.server)]
        assert len(seen) == len(set(seen)), f"a node has two roles in one round: {r}"
    # the ring: i sends to i+1
    assert {(p.client, p.server) for p in pairs} == {(nodes[i], nodes[(i + 1) % n]) for i in range(n)}


def test_fewer_than_two_nodes_need_no_rounds() -> None:
    assert ring_rounds([]) == []
    assert ring_rounds(["only"]) == []


def test_rounds_do_not_grow_with_the_fleet() -> None:
    assert len(ring_rounds([f"n{i}" for i in range(1000)])) == 2
    assert len(ring_rounds([f"n{i}" for i in range(1001)])) == 3
