"""guard_facts' read-only check (validators/facts_guard.py ``_sane``) lets facts through untouched only
when the copying walk would have changed nothing: for the real facts of this machine, and for every
value at the edge of each bound (string length, integer range, nesting depth, surrogates in keys
and values, types JSON never gives), the guard gives what the walk alone gives."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from validators import facts_guard
from validators.facts_guard import MAX_DEPTH, MAX_INT, MAX_STRING, guard_facts


def walked(facts: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the walk alone makes of ``facts`` (the check that skips it turned off)."""
    with monkeypatch.context() as m:
        m.setattr(facts_guard, "_sane", lambda _container, _level: False)
        return guard_facts(copy.deepcopy(facts))


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


EDGES = [
    "x" * MAX_STRING, "x" * (MAX_STRING + 1), "é" * (MAX_STRING + 1), "GPU \ud800", "H100 — 80GB", "\x1b[2J",
    MAX_INT, -MAX_INT, MAX_INT + 1, -MAX_INT - 1, 10**400, True, False, None, 0.5, math.nan, math.inf, -math.inf,
    {"\udfff": 1}, {"k": "\ud83d"}, (1, 2), {1: "int key"}, b"bytes",
    nested(MAX_DEPTH - 3), nested(MAX_DEPTH - 2), nested(MAX_DEPTH - 1), nested(MAX_DEPTH), [[]] * 3,
]


@pytest.mark.parametrize("value", EDGES, ids=lambda v: repr(v)[:40])
@pytest.mark.parametrize("where", ["top", "section", "deep"])
def test_the_guard_gives_what_the_walk_gives(local_facts: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                              value: Any, where: str) -> None:
    facts = copy.deepcopy(local_facts)
    if where == "top":
        facts["odd"] = value
    elif where == "section":
        facts["system"]["odd"] = value
    else:
        facts["system"]["odd"] = {"a": [{"b": value}]}
    want = walked(facts, monkeypatch)
    assert repr(guard_facts(facts)) == repr(want)  # repr: 1, 1.0 and True apart, NaN comparable


def test_real_facts_pass_untouched_and_unchanged(local_facts: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    facts = copy.deepcopy(local_facts)
    want = walked(facts, monkeypatch)
    sections = {k: facts[k] for k in facts}
    out = guard_facts(facts)
    assert repr(out) == repr(want)
    assert all(out[k] is v for k, v in sections.items())  # not copied: nothing in them needed it


def test_facts_without_errors_get_an_empty_errors_section(local_facts: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    facts = copy.deepcopy(local_facts)
    facts.pop("errors", None)
    assert guard_facts(facts)["errors"] == {}
    facts["errors"] = ["not", "an", "object"]
    assert repr(guard_facts(copy.deepcopy(facts))) == repr(walked(facts, monkeypatch))
