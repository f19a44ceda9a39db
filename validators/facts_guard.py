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


def guard_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """The facts with every unusable value replaced (see the module doc); changed in place and
    returned. ``facts["errors"][section]`` names the first bad value of each section."""
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
