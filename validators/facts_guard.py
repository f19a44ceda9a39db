"""The one boundary a node's facts cross before any judge sees them.

Everything a node sends is data, and a node may be broken or hostile: its JSON can carry NaN and
Infinity (Python's json accepts both), integers of a thousand digits, 10 MB strings, lists nested
a thousand deep. Judges are pure functions written for sane numbers; rather than harden each one,
:func:`guard_facts` walks the facts once and makes them sane:

- a number that is not finite, or an integer outside +-2**63 (no counter, size or speed a node
  reports comes near it; ``float()`` of a bigger one raises), is replaced by None and the top-level
  section that held it is marked in ``facts["errors"]``: its judges then say ``error`` with the
  path of the bad value, exactly as for a section the probe could not gather;
- containers nested deeper than :data:`MAX_DEPTH` are cut the same way;
- a string longer than :data:`MAX_STRING` characters is cut (no real fact comes near it; renderers
  cut again for display), and a lone surrogate (json decodes ``"\\ud800"`` into one) becomes
  U+FFFD: no UTF-8 writer accepts it, so one in a GPU name would cost the JSON report.

Booleans are left alone (``True`` is an int, but a legitimate one).
"""

from __future__ import annotations

import math
import re
from typing import Any

MAX_INT = 2**63
MAX_DEPTH = 32
MAX_STRING = 64 * 1024


def _path(parts: list[str | int]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: Any) -> Any:
    return _SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value


def _bad_number(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if isinstance(value, int) and not -MAX_INT <= value <= MAX_INT:
        return f"an integer of {len(str(abs(value)))} digits is out of range"
    return None


def _sane_text(text: str) -> bool:
    return text.isascii() or _SURROGATE.search(text) is None


def _sane(container: dict[Any, Any] | list[Any], level: int) -> bool:
    """True when the walk below would leave ``container`` (at ``level``: the length of its path)
    and everything in it as it is. Conservative: a value of any other type, or a container at the
    depth bound, says False and the walk decides. One read-only pass with no copying and no path
    building, ~5x cheaper than the walk: nearly every node's facts are sane, and at 10,000 nodes the
    walk alone was a third of judging them."""
    if level >= MAX_DEPTH:
        return False
    if type(container) is dict:
        try:
            keys = "".join(container)  # a key is only ever checked for surrogates, never cut
        except TypeError:  # a key that is not a string
            return False
        if not _sane_text(keys):
            return False
        values: Any = container.values()
    else:
        values = container
    for v in values:
        kind = type(v)
        if kind is str:
            if len(v) > MAX_STRING or not (v.isascii() or _SURROGATE.search(v) is None):
                return False
        elif kind is int:
            if not -MAX_INT <= v <= MAX_INT:
                return False
        elif kind is float:
            if not math.isfinite(v):
                return False
        elif kind is dict or kind is list:
            if not _sane(v, level + 1):
                return False
        elif v is not None and kind is not bool:
            return False
    return True


def guard_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """The facts with every unusable value replaced (see the module doc); changed in place and
    returned. ``facts["errors"][section]`` names the first bad value of each section."""
    if type(facts.get("errors")) is dict and _sane(facts, 0):
        return facts  # what the walk would give: the same values, each section's errors as they were
    problems: dict[str, str] = {}

    def walk(value: Any, parts: list[str | int]) -> Any:
        if len(parts) > MAX_DEPTH:
            problems.setdefault(str(parts[0]), f"{_path(parts)}: nested deeper than {MAX_DEPTH} levels")
            return None
        if isinstance(value, dict):
            return {_text(k): walk(v, [*parts, k]) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, [*parts, i]) for i, v in enumerate(value)]
        if isinstance(value, str):
            return _text(value if len(value) <= MAX_STRING else value[: MAX_STRING - 1] + "…")
        bad = _bad_number(value)
        if bad is not None:
            problems.setdefault(str(parts[0]) if parts else "facts", f"{_path(parts)}: {bad}")
            return None
        return value

    for key in list(facts):
        if key != "errors":
            facts[key] = walk(facts[key], [key])
    errors = facts.get("errors")
    if not isinstance(errors, dict):
        errors = {}
    errors = walk(errors, ["errors"]) or {}
    for section, reason in problems.items():
        errors.setdefault(section, f"unusable value from the node: {reason}")
    facts["errors"] = errors
    return facts


__all__ = ["MAX_DEPTH", "MAX_INT", "MAX_STRING", "guard_facts"]
