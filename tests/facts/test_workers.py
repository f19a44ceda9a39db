"""Judging in worker processes (validators/facts/workers.py) gives the report one process gives: the
same nodes in the same order, the same results, the same errors for bad objects, the same fleet
verdicts -- from a directory and from S3 (each worker with its own connections)."""

from __future__ import annotations

import copy
import gc
from pathlib import Path
from typing import Any

import boto3
import pytest

from policies.thresholds import get_profile
from validators.facts import envelope, workers
from validators.facts.collect import cyclic_gc_paused, judge_store
from validators.facts.store import DirStore, FactsStore, S3Store

PROFILE = get_profile("distributed_training")


def fill(store: FactsStore, facts: dict[str, Any], n: int) -> None:
    """``n`` nodes, one in five with a GPU lost, plus the objects that must cost only their node."""
    store.put_manifest(envelope.manifest_bytes(store.run_id, expected_nodes=[f"n{i}" for i in range(n)] + ["gone"]))
    for i in range(n):
        node = copy.deepcopy(facts)
        if i % 5 == 1:
            node.setdefault("gpu", {})["devices"] = []
        store.put(f"n{i}.json", envelope.build(f"n{i}", store.run_id, facts=node, error=None, verdict="pass",
                                               plinth_version="t"))
    store.put("n3.json", b"\x00 not json")
    store.put("n4.json", envelope.build("n4", "another-run", facts=facts, error=None, verdict="pass", plinth_version="t"))
    store.put("extra.json", envelope.build("extra", store.run_id, facts=facts, error=None, verdict="pass", plinth_version="t"))


def comparable(report: Any) -> dict[str, Any]:
    return report.model_dump(exclude={"duration_s": True, "nodes": {"__all__": {"duration_s"}}})


def test_workers_judge_a_directory_run_exactly_as_one_process(tmp_path: Path, local_facts: dict[str, Any],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    store = DirStore(str(tmp_path / "runs" / "r1"))
    fill(store, local_facts, 23)
    monkeypatch.setattr(workers, "CHUNK", 4)  # several chunks per worker, the last one short
    one = judge_store(store, PROFILE, workers=1)
    three = judge_store(store, PROFILE, workers=3)
    assert (one.workers, three.workers) == (1, 3)
    assert comparable(three.report) == comparable(one.report)
    names = [n.name for n in three.report.nodes]
    assert names == [f"n{i}" for i in range(23)] + ["gone", "extra"]
    by_name = {n.name: n for n in three.report.nodes}
    assert {c.message.split(":")[0] for c in by_name["n3"].checks} == {"malformed facts"}
    assert {c.message.split(":")[0] for c in by_name["n4"].checks} == {"stale facts"}
    assert not by_name["gone"].reachable
    assert three.report.fleet  # the fleet judges ran on what the workers sent back


def test_workers_read_s3_over_their_own_connections(aws_env: dict[str, str], moto: str, local_facts: dict[str, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("s3", endpoint_url=moto, region_name="us-east-1").create_bucket(Bucket="workers-run")
    store = S3Store("s3://workers-run/plinth-runs/r2")
    fill(store, local_facts, 9)
    monkeypatch.setattr(workers, "CHUNK", 3)
    one = judge_store(S3Store(store.location), PROFILE, workers=1)
    lean = S3Store(store.location)
    two = judge_store(lean, PROFILE, workers=2)
    assert lean.read_path.startswith("signed HTTP/1.1 keep-alive pool")
    assert comparable(two.report) == comparable(one.report)
    assert sum(n.reachable for n in two.report.nodes) == 8  # n0..n8 and extra, less n3 (malformed) and n4 (stale)


@pytest.mark.parametrize(("cores", "load", "nodes", "count"), [
    (2, 0.1, 10_000, 2),  # a quiet 2-core machine: both cores
    (2, 3.9, 10_000, 2),  # both cores busy with other work: two workers still get the larger fair share
    (16, 0.0, 10_000, 8),  # never more than MAX_WORKERS
    (16, 0.0, 2_500, 2),  # at least MIN_NODES_PER_WORKER nodes each
    (2, 0.0, 500, 1),
])
def test_worker_count_follows_cores_and_run_size(monkeypatch: pytest.MonkeyPatch, cores: int, load: float,
                                                      nodes: int, count: int) -> None:
    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda _pid: set(range(cores)))
    monkeypatch.setattr(workers.os, "getloadavg", lambda: (load, load, load))  # read or not, it must not matter
    assert workers.worker_count(nodes) == count


def test_the_cyclic_collector_is_off_only_inside() -> None:
    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block does not turn it back on early
    assert gc.isenabled()
