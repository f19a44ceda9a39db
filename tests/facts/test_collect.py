"""`validate --facts` over a directory store: missing, stale, foreign-run, malformed and hostile objects
each cost only their own node (error, with the reason); the rest is judged like a live run."""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from policies.errors import ConfigError
from policies.thresholds import get_profile
from validators.facts import envelope
from validators.facts.collect import PAIRWISE_SKIPPED, judge_store, ordered_map, private_dns_match
from validators.facts.store import DirStore, open_store
from validators.inventory import Expect, NodeSpec

PROFILE = get_profile("distributed_training")


def put(store: DirStore, node: str, facts: dict[str, Any] | None, *, run_id: str | None = None,
        error: str | None = None, name: str | None = None) -> None:
    data = envelope.build(node, run_id or store.run_id, facts=facts, error=error, verdict="pass", plinth_version="t")
    store.put(f"{name or node}.json", data)


def statuses(report: Any, node: str) -> dict[str, str]:
    return {c.id: c.status for c in next(n for n in report.nodes if n.name == node).checks}


def messages(report: Any, node: str) -> set[str]:
    return {c.message for c in next(n for n in report.nodes if n.name == node).checks}


def test_good_nodes_are_judged_like_a_live_run_and_bad_ones_cost_only_themselves(tmp_path: Path, local_facts: dict[str, Any]) -> None:
    store = DirStore(str(tmp_path / "run-7"))
    put(store, "good", copy.deepcopy(local_facts))
    put(store, "foreign", copy.deepcopy(local_facts), run_id="run-6")  # copied from another run
    put(store, "probe-broke", None, error="probe failed: python3 not found on the node")
    store.put("renamed.json", envelope.build("good", "run-7", facts=local_facts, error=None, verdict="pass", plinth_version="t"))
    store.put("garbage.json", b"\x00\x01 not json")
    nan = json.dumps({"format": envelope.FACTS_FORMAT}).encode()[:-1] + b', "node": "nan", "x": NaN}'
    store.put("nan.json", nan)
    store.put("huge.json", b" " * (envelope.MAX_FACTS_BYTES + 10))
    store.put("latin1.json", b'{"node": "\xe9"}')
    store.put("x;rm -rf ~.json", b"{}")  # not a node name: ignored, named
    (store.nodes / "link.json").symlink_to("/etc/hostname")  # never followed
    expected = [NodeSpec(name=n, host=n) for n in ("good", "foreign", "probe-broke", "renamed", "garbage", "nan",
                                                   "huge", "latin1", "link", "never-reported")]
    got = judge_store(store, PROFILE, expected=expected)
    report = got.report
    assert [n.name for n in report.nodes] == [s.name for s in expected]  # inventory order
    good = statuses(report, "good")
    assert good["gpu.count"] == "fail"  # an honest verdict: this machine has no GPU
    assert good["network.bandwidth"] == "skip" and PAIRWISE_SKIPPED in messages(report, "good")
    assert next(n for n in report.nodes if n.name == "good").reachable
    reasons = {
        "foreign": "stale facts: the object is from run 'run-6', not 'run-7'",
        "probe-broke": "agent: probe failed: python3 not found on the node",
        "renamed": "malformed facts: facts object stored as 'renamed' names node 'good'",
        "garbage": "malformed facts: facts object is not valid JSON",
        "nan": "malformed facts: facts object is not valid JSON: NaN is not a number JSON allows",
        "huge": "malformed facts: the object is",
        "link": "cannot read facts",
        "latin1": "malformed facts: facts object is not UTF-8 text",
        "never-reported": "no facts: the agent did not report in run run-7",
    }
    for node, reason in reasons.items():
        st = statuses(report, node)
        assert set(st.values()) == {"error"}, node
        assert all(m.startswith(reason) for m in messages(report, node)), (node, messages(report, node))
    # every node check of the profile is there for a node without facts, none dropped
    assert set(statuses(report, "never-reported")) == {cid for cid in good}
    assert got.run.ignored == ["'x;rm -rf ~.json'"]
    assert report.exit_code == 1


def test_manifest_start_time_makes_older_objects_stale_and_names_expected_nodes(tmp_path: Path, local_facts: dict[str, Any]) -> None:
    store = DirStore(str(tmp_path / "run-8"))
    put(store, "old", local_facts)
    past = time.time() - 3600
    os.utime(store.nodes / "old.json", (past, past))  # written an hour ago, by the store's clock
    put(store, "fresh", local_facts)
    put(store, "stranger", local_facts)
    store.put_manifest(envelope.manifest_bytes("run-8", started_at=envelope.now_iso(), expected_nodes=["old", "fresh", "gone"]))
    os.utime(store.nodes / "fresh.json")  # written now, at or after the start
    got = judge_store(store, PROFILE)
    assert got.run.expected_from == "run.json expected_nodes"
    assert got.run.unexpected == ["stranger"]  # reported, not expected: judged too, and named
    assert [n.name for n in got.report.nodes] == ["old", "fresh", "gone", "stranger"]
    assert all(m.startswith("stale facts: written ") and "before run run-8 started" in m for m in messages(got.report, "old"))
    assert next(n for n in got.report.nodes if n.name == "fresh").reachable  # judged from its facts
    assert statuses(got.report, "fresh")["gpu.count"] == "fail"
    assert set(statuses(got.report, "gone").values()) == {"error"}


def test_without_started_at_the_manifest_write_time_starts_the_run(tmp_path: Path, local_facts: dict[str, Any]) -> None:
    store = DirStore(str(tmp_path / "run-9"))
    put(store, "before", local_facts)
    past = time.time() - 60
    os.utime(store.nodes / "before.json", (past, past))
    store.put_manifest(envelope.manifest_bytes("run-9"))
    got = judge_store(store, PROFILE)
    assert got.run.start_from == "the time the store wrote run.json"
    assert all(m.startswith("stale facts") for m in messages(got.report, "before"))


def test_a_stack_node_matches_the_object_of_its_kubernetes_node_by_private_dns(tmp_path: Path, local_facts: dict[str, Any]) -> None:
    store = DirStore(str(tmp_path / "run-10"))
    put(store, "ip-10-0-1-23.ec2.internal", local_facts)
    spec = NodeSpec(name="gpu-a1b2c3", host="10.0.1.23", expect=Expect(instance_type="p5.48xlarge"))
    got = judge_store(store, PROFILE, expected=[spec])
    node = got.report.nodes[0]
    assert node.host == "10.0.1.23" and node.reachable
    gpu = next(c for c in node.checks if c.id == "gpu.count")
    assert gpu.status == "fail" and gpu.threshold == 8  # the catalogue's 8 GPUs for a p5.48xlarge applied
    assert private_dns_match("10.0.1.2", ["ip-10-0-1-23.ec2.internal"]) is None  # a prefix of another IP is not it


def test_fleet_judges_see_the_sections_they_read(tmp_path: Path, local_facts: dict[str, Any]) -> None:
    store = DirStore(str(tmp_path / "run-11"))
    for i, gpus in enumerate([8, 8, 8, 6]):
        facts = copy.deepcopy(local_facts)
        facts["gpu"] = {**facts["gpu"], "devices": [{"index": d} for d in range(gpus)]}
        put(store, f"n{i}", facts)
    got = judge_store(store, PROFILE)
    outlier = [c for c in got.report.fleet if c.id == "gpu.count_outlier"]
    assert [c.status for c in outlier] == ["warn"] and outlier[0].message.startswith("n3: visible GPUs 6")


def test_a_local_store_is_read_inline_and_judged_as_through_fetch_threads(tmp_path: Path, local_facts: dict[str, Any],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory is read in the judging thread (a file read costs less than a hand-over to a fetch
    thread); an S3 store through the fetch threads. Both ways give the same report, bad objects included."""
    from validators.facts import collect

    store = DirStore(str(tmp_path / "run-8"))
    for i in range(6):
        put(store, f"n{i}", copy.deepcopy(local_facts))
    store.put("garbage.json", b"not json")
    put(store, "foreign", copy.deepcopy(local_facts), run_id="run-1")
    threaded: list[int] = []
    real_map = collect.ordered_map
    monkeypatch.setattr(collect, "ordered_map", lambda *a, **k: threaded.append(1) or real_map(*a, **k))
    inline = judge_store(store, PROFILE, workers=1).report
    assert threaded == []
    monkeypatch.setattr(store, "local", False, raising=False)  # as an S3 store is read
    through_threads = judge_store(store, PROFILE, workers=1).report
    assert threaded == [1]
    assert inline.model_dump(exclude={"duration_s"}) == through_threads.model_dump(exclude={"duration_s"})
    assert statuses(inline, "garbage") == dict.fromkeys(statuses(inline, "n0"), "error")


def test_ordered_map_keeps_order_and_bounds_what_is_in_flight() -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    lock = threading.Lock()
    in_flight, peak = 0, 0

    def slow(i: int) -> int:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.001 * (i % 3))
        return i

    with ThreadPoolExecutor(8) as pool:
        out = []
        for r in ordered_map(pool, slow, range(200), window=10):
            with lock:
                in_flight -= 1
            out.append(r)
    assert out == list(range(200))
    assert peak <= 11  # the window, plus the result the consumer is holding (not 200)


@pytest.mark.parametrize(("location", "message"), [
    ("s3://bucket-only", "expected s3://BUCKET/PREFIX/RUN-ID"),
    ("s3://bkt-x/runs/../x", r"'\.\.' segments"),
    ("s3://bkt-x/runs/bad run", "not a run id"),
    ("gs://bkt-x/run", "expected a directory or s3://"),
])
def test_bad_locations_are_bad_input(location: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(location)


def test_a_bad_manifest_is_bad_input_naming_the_field(tmp_path: Path) -> None:
    store = DirStore(str(tmp_path / "run-12"))
    store.put_manifest(b'{"format": "plinth.run/v1", "run_id": "run-12", "expected_nodes": "gpu-0"}')
    with pytest.raises(ConfigError, match=r"run-12/run.json: expected_nodes: expected a list of node names"):
        judge_store(store, PROFILE)


def test_a_location_with_no_facts_and_no_manifest_is_bad_input_not_a_green_run(tmp_path: Path) -> None:
    """A mistyped run id judged as '0 nodes, nothing failed' would exit 0: a CI step that judged
    nothing and passed. With nothing that names a node, it is bad input (exit 2)."""
    with pytest.raises(ConfigError, match=r"run-13: no facts there .* `plinth agent --upload \S+run-13`"):
        judge_store(DirStore(str(tmp_path / "run-13")), PROFILE)


def test_expected_nodes_with_no_facts_are_each_an_error_not_bad_input(tmp_path: Path) -> None:
    """The inventory names the nodes: they are judged, each `error` (the agents did not report)."""
    report = judge_store(DirStore(str(tmp_path / "run-14")), PROFILE,
                         expected=[NodeSpec(name="gpu-0", host="gpu-0"), NodeSpec(name="gpu-1", host="gpu-1")]).report
    assert [n.name for n in report.nodes] == ["gpu-0", "gpu-1"]
    assert all(c.status == "error" for n in report.nodes for c in n.checks)
