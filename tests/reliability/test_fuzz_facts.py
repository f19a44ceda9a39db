"""Hostile facts never crash, never lie, never reach a reader as markup: hypothesis takes a real
facts document (this machine's probe answer, with the GPU and Xid sections of a recorded 8x H100
node) and breaks a few of its values with what a broken or hostile node can send -- NaN and
Infinity, integers of 400 digits, rich markup, terminal escapes, control characters, HTML and
Markdown, lone surrogates, 100,000-character strings, lists nested 50 deep, wrong types. Then the
facts cross the one guard (validators/facts_guard.py), every judge of two profiles runs, and
every report format is rendered and checked (tests/reliability/hostile.py)."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from policies.thresholds import get_profile
from tests.checks.facts import H100_8, XID_ECC, gpu_facts
from tests.reliability.hostile import (
    NUMBER_PAYLOADS,
    TEXT_PAYLOADS,
    assert_honest,
    assert_reports_inert,
    nested,
)
from tests.reliability.inputs import CASES, FUZZ, MIN_CASES
from validators.checks.base import CheckContext, judge_node
from validators.facts_guard import MAX_DEPTH, MAX_STRING, guard_facts
from validators.probe import ProbeOptions, parse_probe_output, probe_command
from validators.results import NodeReport, Report
from validators.runner import summarize
from validators.transport import LocalTransport

PROFILES = ("distributed_training", "single_gpu")
PAIRWISE = {"tool": "builtin", "bandwidth_gbps": 94.2, "latency_ms": 0.31,
            "peers": [{"peer": "gpu-1", "role": "client", "bandwidth_gbps": 94.2, "latency_ms": 0.31}]}


def _base() -> dict[str, Any]:
    """This machine's facts from the real probe, with a recorded 8x H100 node's GPU and Xid sections."""
    argv, stdin = probe_command(ProbeOptions(disk_test_mb=0, use_fio=False, step_timeout_s=5))
    facts = parse_probe_output(LocalTransport().run(argv, stdin=stdin, timeout=60))
    recorded = gpu_facts(H100_8, xid=XID_ECC)  # skips with the reason when the fixtures are absent
    facts.update(gpu=recorded["gpu"], xid=recorded["xid"], pairwise=copy.deepcopy(PAIRWISE))
    return facts


BASE: dict[str, Any] = {}


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))] + ([path] if path else [])
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))] + ([path] if path else [])
    return [path]


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    if not BASE:
        BASE.update(_base())
    return BASE


hostile_value = st.one_of(
    st.sampled_from(NUMBER_PAYLOADS), st.sampled_from(TEXT_PAYLOADS),
    st.builds(nested, st.integers(min_value=MAX_DEPTH - 5, max_value=60)),
    st.sampled_from([None, True, {}, [], {"a": math.nan}, ["[/]"] * 3, {"\x1b[2J": 1}]),
    st.text(max_size=40), st.integers(), st.floats(),
)


def _judge_and_render(facts: dict[str, Any], profile: str) -> Report:
    ctx = CheckContext(profile=get_profile(profile), node="gpu-0", expect={"gpus": 8, "gpu_model": "H100"})
    nodes = [NodeReport(name="gpu-0", host="10.0.0.10", reachable=True, checks=judge_node(facts, ctx))]
    report = Report(summary=summarize(nodes, []), profile=profile, nodes=nodes)
    assert_honest(report)
    assert_reports_inert(report)
    return report


@FUZZ
@given(data=st.data())
@example(data=None)  # the untouched document: the oracle itself must pass on real facts
def test_hostile_facts_are_judged_and_rendered_without_crash_lie_or_markup(base: dict[str, Any], data: Any) -> None:
    CASES["hostile facts"] += 1
    facts = copy.deepcopy(base)
    broken: list[tuple[Any, ...]] = []
    if data is not None:
        paths = _leaves(facts)
        for path in data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=6, unique=True), label="paths"):
            try:
                _set(facts, path, data.draw(hostile_value, label=str(path)))
                broken.append(path)
            except (KeyError, IndexError, TypeError):
                pass  # an earlier change replaced a parent of this path
    guarded = guard_facts(facts)
    for path in broken:  # what crossed the guard is sane: finite, in range, bounded
        _assert_sane(guarded, path)
    for profile in PROFILES:
        _judge_and_render(guarded, profile)


def _assert_sane(facts: dict[str, Any], path: tuple[Any, ...]) -> None:
    node: Any = facts
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    stack = [(node, 0)]
    while stack:
        value, depth = stack.pop()
        assert depth <= MAX_DEPTH + 1
        if isinstance(value, float):
            assert math.isfinite(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            assert abs(value) <= 2**63
        elif isinstance(value, str):
            assert len(value) <= MAX_STRING
        elif isinstance(value, dict):
            stack += [(v, depth + 1) for v in value.values()]
        elif isinstance(value, list):
            stack += [(v, depth + 1) for v in value]


def test_a_nan_in_a_gpu_field_makes_the_gpu_checks_error_with_the_path(base: dict[str, Any]) -> None:
    """The expert's verdict for a node that reports NaN MiB of GPU memory: not proven, so error --
    never a pass and never a crash -- and the message says which value was unusable."""
    facts = copy.deepcopy(base)
    facts["gpu"]["devices"][3]["memory_total_mib"] = math.nan
    report = _judge_and_render(guard_facts(facts), "distributed_training")
    checks = {c.id: c for c in report.nodes[0].checks}
    for cid in ("gpu.count", "gpu.ecc_errors", "gpu.temperature"):  # the judges that read the gpu section
        assert checks[cid].status == "error", checks[cid]
        assert "gpu.devices[3].memory_total_mib: nan is not a finite number" in checks[cid].message
    assert not any(c.status == "pass" for cid, c in checks.items() if cid.startswith("gpu.") and "gather gpu" in c.message)
    others = [c for c in report.nodes[0].checks if not c.id.startswith("gpu.")]
    assert any(c.status == "pass" for c in others)  # the rest of the node is still judged


def test_a_huge_integer_does_not_crash_the_score(base: dict[str, Any]) -> None:
    facts = copy.deepcopy(base)
    facts["system"]["cpu_physical_cores"] = 10**400  # float() of it raises OverflowError
    report = _judge_and_render(guard_facts(facts), "single_gpu")
    cores = next(c for c in report.nodes[0].checks if c.id == "system.cpu_cores")
    assert cores.status == "error" and "an integer of 401 digits is out of range" in cores.message
    assert 0 <= report.summary.score <= 100


def test_hostile_facts_fuzzer_ran_at_least_200_cases() -> None:
    if CASES["hostile facts"] == 0:
        pytest.skip("the hostile facts fuzzer was not selected in this run")
    print(f"\nhostile facts cases: {CASES['hostile facts']}")
    assert CASES["hostile facts"] >= MIN_CASES, dict(CASES)
