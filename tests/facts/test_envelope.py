"""The facts envelope and run manifest are node data: every hostile shape is refused with a reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from validators.facts import envelope
from validators.facts.envelope import FactsProblem

FACTS = {"probe_version": 1, "hostname": "gpu-0", "errors": {}, "gpu": {"devices": []}}


def doc(**changes: Any) -> dict[str, Any]:
    base = json.loads(envelope.build("gpu-0", "run-1", facts=FACTS, error=None, verdict="fail", plinth_version="0.1.0",
                                     host_ip="10.0.1.23"))
    base.update(changes)
    return base


def raw(d: dict[str, Any]) -> bytes:
    return json.dumps(d).encode()


def test_round_trip_keeps_facts_and_metadata() -> None:
    env = envelope.parse(raw(doc()), "gpu-0")
    assert env.facts == FACTS and env.run_id == "run-1" and env.verdict == "fail" and env.host_ip == "10.0.1.23"
    assert env.time.tzinfo is not None


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "..", ".hidden", "a..b", "", "x" * 254, "gpu 0", "gpu\n0", 7])
def test_names_that_could_be_paths_are_refused(name: object) -> None:
    assert envelope.node_name_problem(name) is not None
    with pytest.raises(ValueError):
        envelope.build(name, "run-1", facts=FACTS, error=None, verdict="pass", plinth_version="x")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["gpu-0", "ip-10-0-1-23.ec2.internal", "i-0abc123def", "Node_7"])
def test_real_node_names_are_accepted(name: str) -> None:
    assert envelope.node_name_problem(name) is None


@pytest.mark.parametrize(("data", "reason"), [
    (b"not json at all", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|not valid JSON"),
    (raw(doc(facts={**FACTS, "x": 1.5})).replace(b'"x": 1.5', b'"x": NaN'), "NaN is not a number JSON allows"),
    (raw(doc(facts={**FACTS, "gpu": {"temperature_c": 1}})).replace(b'"temperature_c": 1', b'"temperature_c": Infinity'),
     "Infinity is not a number"),
    (raw(doc(facts={**FACTS, "x": 1.5})).replace(b'"x": 1.5', b'"x": 1e999'), "out of range"),
    (raw(doc(node="../../etc/cron.d/x")), "not a node name"),
    (raw(doc(node="gpu-1")), "stored as 'gpu-0' names node 'gpu-1'"),
    (raw(doc(run_id="../other")), "not a run id"),
    (raw(doc(verdict="great")), "verdict 'great'"),
    (raw(doc(time="yesterday")), "expected an ISO 8601 time"),
    (raw(doc(time="2025-06-01T10:00:00")), "no time zone"),
    (raw(doc(format="plinth.facts/v9")), "format"),
    (raw(doc(facts=None, error=None)), "neither facts nor an error"),
    (raw(doc(facts={"hostname": "x"})), "no probe_version"),
    (raw(doc(facts={**FACTS, "probe_version": 99})), "probe version 99"),
    (raw(doc(host_ip="10.0.0.1; rm -rf /")), "not an IP address"),
    (b"[1, 2]", "not an object"),
])
def test_hostile_objects_are_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(FactsProblem, match=reason):
        envelope.parse(data, "gpu-0")


def test_a_huge_object_is_refused_before_parsing() -> None:
    data = raw(doc(facts={**FACTS, "pad": "x" * envelope.MAX_FACTS_BYTES}))
    with pytest.raises(FactsProblem, match="larger than 2048 KiB"):
        envelope.parse(data, "gpu-0")


def test_a_node_message_is_bounded_and_escaped() -> None:
    shown = envelope.shown("\x1b[31m" + "a" * 500)
    assert len(shown) <= 80 and "\x1b" not in shown


def test_probe_error_without_facts_is_a_valid_envelope() -> None:
    env = envelope.parse(raw(doc(facts=None, error="probe failed: python3 not found", verdict="error")), "gpu-0")
    assert env.facts is None and env.error == "probe failed: python3 not found"


def test_manifest_round_trip_and_field_errors() -> None:
    m = envelope.parse_manifest(envelope.manifest_bytes("run-1", started_at="2025-06-01T10:00:00+00:00",
                                                        expected_nodes=["gpu-0", "gpu-1"]), "run-1")
    assert m.expected_nodes == ("gpu-0", "gpu-1") and m.started_at is not None
    with pytest.raises(FactsProblem, match=r"run.json: run_id: 'run-2' is not this run's id 'run-1'"):
        envelope.parse_manifest(envelope.manifest_bytes("run-2"), "run-1")
    bad = json.loads(envelope.manifest_bytes("run-1"))
    bad["expected_nodes"] = ["gpu-0", "../x"]
    with pytest.raises(FactsProblem, match=r"run.json: expected_nodes\[1\]: '../x' is not a node name"):
        envelope.parse_manifest(raw(bad), "run-1")
    with pytest.raises(FactsProblem, match=r"run.json: 'extra': unknown field"):
        envelope.parse_manifest(raw({**json.loads(envelope.manifest_bytes("run-1")), "extra": 1}), "run-1")
