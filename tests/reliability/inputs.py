"""Hypothesis strategies for hostile user input, and the one property every loader must keep:
the input is accepted, or it is a ConfigError whose message is ONE line starting with the file
(or option) it came from, followed by the field or line at fault."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import Counter
from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# What pydantic says in its own words; plinth's errors say it in plinth's (policies/errors.py).
PYDANTIC_WORDS = ("Input should be", "Field required", "Extra inputs are not permitted", "Value error,",
                  "validation error for", "For further information visit")

# Every generated case is counted per input kind; docs/RELIABILITY.md records these numbers and
# each fuzzer asserts it really ran at least MIN_CASES of them.
CASES: Counter[str] = Counter()
MIN_CASES = 200

# Deterministic by default, so CI is reproducible; PLINTH_FUZZ_EXAMPLES=2000 explores randomly.
_EXTRA = int(os.environ.get("PLINTH_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=max(MIN_CASES, _EXTRA), deadline=None, database=None, derandomize=_EXTRA == 0,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)

# What an attacker (or a typo) puts in a host, user or name field.
SHELL_BITS = [
    "; touch /tmp/pwned", "$(id)", "`id`", "a b", "-oProxyCommand=sh -c id", "|cat", "&& reboot", "x\ny",
    "../../etc/passwd", "'", '"', "*", "~root", "${HOME}", "a>b", "\\", "host\x00", "-p", "%00", "\t",
]
SHELL_CHARS = set(" \t\n;|&$`'\"<>()\\*?![]{}~#") | {"\x00"}

words = st.one_of(
    st.text(max_size=24),
    st.sampled_from(SHELL_BITS),
    st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), words,
    st.dates(min_value=dt.date(1, 1, 1)),  # YAML turns these into timestamps
)
values = st.recursive(
    scalars, lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(words, kids, max_size=4)),
    max_leaves=12,
)


def maybe(good: Any) -> st.SearchStrategy[Any]:
    """A field that is usually right and often wrong (wrong type, hostile text, nonsense)."""
    return st.one_of(st.just(good), st.just(good), words, values)


# YAML text that is not a dump of a structure: syntax errors, bad timestamps, bad tags, binary,
# deep nesting -- the things a human or a broken generator actually writes.
HOSTILE_YAML = [
    b"nodes: [\n", b"a: 2001-13-45\n", b"created: 2024-02-30T00:00:00\n", b"\xff\xfe\x00garbage",
    b"[" * 3000, b"{a: " * 2000, b"nodes: !!binary 'zz'\n", b"!!python/object:os.system ['id']\n",
    b"&a [*a]\n", b"nodes: *missing\n", b"\t- tab\n", b"key: value\n  bad indent: x\n",
    b"---\n- a\n---\n- b\n", b"\x00", b"", b"~", b"123", b"- - - -", b"nodes: {name: a, host: h\n",
]
raw_bytes = st.one_of(
    st.sampled_from(HOSTILE_YAML),
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
)


def yaml_bytes(structured: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Half structure dumped as YAML (so the schema is exercised), half raw hostile bytes."""
    dumped = structured.map(lambda obj: yaml.safe_dump(obj, allow_unicode=True).encode("utf-8", "surrogatepass"))
    return st.one_of(dumped, dumped, raw_bytes)


def assert_one_line(message: str, source: str) -> str:
    """The ConfigError contract: one line, starting with ``<source>: `` or ``<source>:<line>:<column>: ``,
    naming something after it, in plinth's words (none of pydantic's). Returns what follows."""
    assert "\n" not in message and "\r" not in message, f"multi-line error: {message!r}"
    m = re.match(rf"^{re.escape(source)}(:\d+:\d+)?: ", message)
    assert m, f"error does not start with the file {source!r}: {message!r}"
    rest = message[m.end():]
    for words in PYDANTIC_WORDS:
        assert words not in rest, f"pydantic's words leak: {message!r}"
    assert re.match(r"^\S", rest) and len(rest) > 3, f"error names nothing after the file: {message!r}"
    assert "Traceback" not in message
    return rest


def names_a_field(rest: str, fields: tuple[str, ...] = ()) -> bool:
    """The part before the first ': ' says where the problem is: a field path starting with one of
    ``fields`` (the file's top-level keys: ``nodes[0].host: ...``), ``(top level)``, ``not valid
    YAML (line 3)``, ``cannot read ...`` -- or, for a cross-field rule, the message names one of
    ``fields`` (e.g. ``strategy hybrid needs plinth:kubernetes``)."""
    head = rest.split(": ", 1)[0]
    if ": unknown key " in rest or ": required key " in rest:
        return True  # names the user's own key (unknown) or the one that is missing
    if head.startswith(("(top level)", "not valid YAML", "not valid JSON", "cannot read", "config")) or "line" in head:
        return True
    if " is not UTF-8 text (byte " in head:  # the file as a whole: which byte
        return True
    return any(head.startswith(f) for f in fields) or any(f in rest for f in fields if ":" in f)
