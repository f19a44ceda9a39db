"""The shared comparison helpers: every status reachable, messages name value, bound and miss."""

from __future__ import annotations

import pytest

from policies.thresholds import Threshold
from validators.checks.compare import (
    at_least,
    at_most,
    expect_equal,
    fmt,
    not_applicable,
    not_run,
    section_problem,
)

FLOOR = Threshold(min=100, unit="Gbps")  # warn_margin 0.05 -> warn below 105
CEIL = Threshold(max=10, unit="ms")  # warn above 9.5


@pytest.mark.parametrize("value,status", [(150, "pass"), (105, "pass"), (104.9, "warn"), (100, "warn"), (99.9, "fail"), (None, "error")])
def test_at_least_bands(value: float | None, status: str) -> None:
    assert at_least("network.bandwidth", value, FLOOR, what="bandwidth").status == status


def test_at_least_fail_message_names_value_bound_and_shortfall() -> None:
    r = at_least("network.bandwidth", 25, FLOOR, what="bandwidth to peers", remediation="fix it")
    assert r.message == "bandwidth to peers: 25 Gbps, needs >= 100 Gbps (75 short, 75% below)"
    assert (r.measured, r.threshold, r.unit, r.remediation, r.pillar) == (25, 100, "Gbps", "fix it", "network")


def test_at_least_without_warn_band_for_counts() -> None:
    assert at_least("gpu.count", 8, Threshold(min=8), what="GPUs", warn=False).status == "pass"
    assert at_least("gpu.count", 8, Threshold(min=8), what="GPUs").status == "warn"


def test_explicit_floor_overrides_profile() -> None:
    r = at_least("gpu.count", 2, Threshold(min=1), what="GPUs", floor=8, warn=False)
    assert r.status == "fail" and r.threshold == 8


@pytest.mark.parametrize("value,status", [(1, "pass"), (9.5, "pass"), (9.6, "warn"), (10, "warn"), (10.01, "fail"), (None, "error")])
def test_at_most_bands(value: float | None, status: str) -> None:
    assert at_most("network.latency", value, CEIL, what="latency").status == status


def test_zero_ceiling_never_warns() -> None:
    zero = Threshold(max=0, unit="events")
    assert at_most("gpu.xid", 0, zero, what="Xid").status == "pass"
    r = at_most("gpu.xid", 3, zero, what="Xid")
    assert r.status == "fail" and r.message == "Xid: 3 events, needs <= 0 events (3 over)"


def test_missing_bound_is_an_error_naming_the_field() -> None:
    r = at_least("storage.free_space", 10, Threshold(max=5), what="free space")
    assert r.status == "error" and "set `min:`" in r.message
    assert at_most("x.y", 1, Threshold(min=1), what="v").status == "error"
    assert expect_equal("x.y", True, Threshold(min=1), what="v").status == "error"


@pytest.mark.parametrize("measured,want,status", [
    (True, True, "pass"), (False, True, "fail"), (1, True, "fail"), ("enabled", "Enabled", "pass"),
    ("Disabled", "Enabled", "fail"), (None, True, "error"), (3, 3.0, "pass"),
])
def test_expect_equal(measured: object, want: object, status: str) -> None:
    assert expect_equal("gpu.persistence_mode", measured, Threshold(expect=want), what="persistence").status == status  # type: ignore[arg-type]


def test_not_run_and_not_applicable() -> None:
    e = not_run("gpu.xid", "kernel log unreadable", threshold=Threshold(max=0, unit="events"))
    s = not_applicable("gpu.nvlink", "PCIe only")
    assert (e.status, e.threshold, e.unit) == ("error", 0, "events")
    assert (s.status, s.message) == ("skip", "PCIe only")


def test_section_problem() -> None:
    assert section_problem({"errors": {"gpu": "boom"}, "gpu": None}, "gpu") == "probe could not gather gpu: boom"
    assert section_problem({"errors": {}}, "disk") == "probe returned no disk facts"
    assert section_problem({"errors": {}, "disk": {}}, "disk") is None


@pytest.mark.parametrize("value,text", [(8, "8"), (8.0, "8"), (9001.0, "9001"), (1.5, "1.5"), (0.25, "0.25"), (123.456, "123"), (True, "true")])
def test_fmt(value: object, text: str) -> None:
    assert fmt(value) == text


def test_identical_results_are_one_instance_and_values_keep_their_type() -> None:
    """make() hands every node whose result is word for word the same the instance built first
    (CheckResult is frozen, so no node can change another's); 1, 1.0 and True are different
    results, and a value validation refuses is refused every time."""
    from pydantic import ValidationError

    from validators.results import CheckResult

    a = at_least("gpu.count", 8, Threshold(min=8, unit="GPUs"), what="GPUs", warn=False)
    b = at_least("gpu.count", 8, Threshold(min=8, unit="GPUs"), what="GPUs", warn=False)
    assert a is b
    with pytest.raises(ValidationError):
        a.status = "fail"  # type: ignore[misc]
    made = [CheckResult.make("gpu.model", "pass", "same words", measured=v) for v in (1, 1.0, True)]
    assert [type(r.measured) for r in made] == [int, float, bool]
    assert [r.model_dump()["measured"] for r in made] == [1, 1.0, True]
    assert [r.model_dump_json().split(",")[3] for r in made] == ['"measured":1', '"measured":1.0', '"measured":true']
    for _ in range(2):
        with pytest.raises(ValidationError):
            CheckResult.make("gpu.model", "pass", "x", measured=float("nan"))
        with pytest.raises(ValidationError):
            CheckResult.make("gpu.model", "pass", "x", measured=[1])  # unhashable: built (and refused) without the memo


def test_zero_and_minus_zero_are_different_results() -> None:
    from validators.results import CheckResult

    made = [CheckResult.make("gpu.model", "pass", "zero", measured=v, threshold=0.5) for v in (0.0, -0.0, 0.0)]
    assert [r.model_dump_json().split(",")[3] for r in made] == ['"measured":0.0', '"measured":-0.0', '"measured":0.0']
