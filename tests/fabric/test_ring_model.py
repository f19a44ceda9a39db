"""The ring all-reduce on paper: nccl-tests' bandwidth formulas, the cost model, the seed's bands,
and the attribution of a slow ring to a node or a link (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from validators.fabric import ring_model as rm

MIB = 1 << 20


def test_busbw_is_nccl_tests_formula() -> None:
    # nccl-tests doc/PERFORMANCE.md: all-reduce busbw = algbw * 2(n-1)/n; 1 GB in 0.1 s on 8 ranks
    assert rm.algbw_gbs(1e9, 0.1) == pytest.approx(10.0)
    assert rm.busbw_gbs(1e9, 0.1, 8) == pytest.approx(10.0 * 14 / 8)
    assert rm.busbw_gbs(1e9, 0.1, 2) == pytest.approx(10.0)  # two ranks: each link carries S once


def test_ring_model_time() -> None:
    # 3 ranks, 8 MiB, slowest hop 100 Mbit/s: 4 steps of 2.8 MB each at 12.5 MB/s
    t = rm.ring_seconds(8 * MIB, 3, 0.1)
    assert t == pytest.approx(4 * rm.chunk_bytes(8 * MIB, 3) * 8 / 0.1e9)
    assert t == pytest.approx(0.895, rel=0.01)
    assert rm.ring_seconds(8 * MIB, 3, 0.1, hop_latency_s=0.001) == pytest.approx(t + 0.004)


@pytest.mark.parametrize(("ms", "band"), [(9.99, "excellent"), (10.0, "acceptable"), (49.9, "acceptable"), (50.0, "poor")])
def test_seed_bands(ms: float, band: str) -> None:
    assert rm.band(ms, 10, 50) == band


def test_one_slow_node_is_named_not_its_neighbours() -> None:
    names = ["n0", "n1", "n2", "n3"]
    # in-links: n3->n0, n0->n1 (slow: into n1), n1->n2 (slow: out of n1), n2->n3
    found = rm.attribute(names, [9.0, 0.1, 0.1, 9.5])
    assert [n["node"] for n in found["slow_nodes"]] == ["n1"] and found["slow_links"] == []
    assert found["slow_nodes"][0] == {"node": "n1", "in_gbps": 0.1, "out_gbps": 0.1}


def test_a_slow_link_between_healthy_nodes_is_named_as_a_link() -> None:
    found = rm.attribute(["n0", "n1", "n2"], [9.0, 9.0, 0.5])  # n1 -> n2 slow; both have a fast link
    assert found["slow_nodes"] == [] and found["slow_links"] == [{"from": "n1", "to": "n2", "gbps": 0.5}]


def test_nothing_is_named_when_the_links_are_alike_or_two_nodes_cannot_tell() -> None:
    assert rm.attribute(["a", "b", "c"], [4.0, 3.0, 5.0]) == {"slow_nodes": [], "slow_links": [], "best_link_gbps": 5.0}
    two = rm.attribute(["a", "b"], [0.1, 0.1])
    assert two["slow_nodes"] == [] and "cannot be told" in two["note"]


@given(n=st.integers(3, 40), slow=st.data(), fast=st.lists(st.floats(5, 10), min_size=40, max_size=40),
       slow_rate=st.floats(0.01, 1.6))  # below a third of the slowest healthy link (5)
def test_exactly_the_slow_node_is_named_whatever_the_ring(n: int, slow: st.DataObject, fast: list[float],
                                                          slow_rate: float) -> None:
    """A node whose NIC is slow drags its in-link and its out-link: it alone is named, at any size."""
    k = slow.draw(st.integers(0, n - 1))
    names = [f"n{i}" for i in range(n)]
    rates = fast[:n]
    rates[k] = slow_rate  # in-link of k
    rates[(k + 1) % n] = slow_rate  # out-link of k (in-link of k+1)
    found = rm.attribute(names, rates)
    assert [x["node"] for x in found["slow_nodes"]] == [f"n{k}"] and found["slow_links"] == []


def _rank(seconds: list[float], step0: list[float], wrong: int = 0, error: str | None = None) -> dict:
    return {"port": 28100, "error": error,
            "iterations": [{"seconds": s, "step0_s": z, "steps_s": [], "wrong": wrong} for s, z in zip(seconds, step0)]}


def test_summarize_takes_each_iterations_slowest_rank_and_the_median() -> None:
    chunk = rm.chunk_bytes(6 * MIB, 3)
    step_fast, step_slow = chunk * 8 / 10e9, chunk * 8 / 0.1e9
    outs = [_rank([0.9, 1.0, 1.4], [step_fast] * 3), _rank([1.1, 0.95, 1.0], [step_slow] * 3),
            _rank([1.0, 1.2, 0.9], [step_slow] * 3)]
    facts = rm.summarize(["a", "b", "c"], outs, 6 * MIB)
    assert facts["status"] == "ok" and facts["iterations"] == 3
    assert facts["sync_ms_each"] == [1100.0, 1200.0, 1400.0] and facts["sync_ms"] == 1200.0
    assert facts["busbw_gbs"] == pytest.approx(rm.busbw_gbs(6 * MIB, 1.2, 3), rel=1e-4)
    assert [x["node"] for x in facts["slow_nodes"]] == ["b"]
    assert facts["bottleneck"]["gbps"] == pytest.approx(0.1, rel=1e-3)
    assert facts["wrong"] == 0


def test_summarize_puts_the_failing_rank_before_those_that_only_saw_it_vanish() -> None:
    # c's tool never answered; a lost c as its predecessor, b could not reach c as its successor
    outs = [_rank([], [], error="the previous rank closed the connection (phase: iteration 1)"),
            _rank([], [], error="connecting to the next rank: cannot connect to 10.0.0.3:28100..28111 within 20.0s"),
            None]
    facts = rm.summarize(["a", "b", "c"], outs, MIB)
    assert facts["status"] == "error"
    assert facts["reason"].startswith("ring all-reduce failed: c: no result; a: the previous rank closed")
    # a rank that failed on its own (its port range full) comes before the echoes too
    outs[2] = _rank([], [], error="every candidate port is taken (28100..28111) (phase: listen)")
    assert rm.summarize(["a", "b", "c"], outs, MIB)["reason"].startswith("ring all-reduce failed: c: every candidate")


def test_summarize_counts_wrong_chunks() -> None:
    outs = [_rank([1.0], [0.1], wrong=1), _rank([1.0], [0.1]), _rank([1.0], [0.1])]
    assert rm.summarize(["a", "b", "c"], outs, MIB)["wrong"] == 1
