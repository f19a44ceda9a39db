"""Counting logged events (Xids, SXids, link flaps) in the span a profile asks for.

The probe sends, per code or interface, the total since boot and the newest few events with their
times (``ts``, epoch seconds, or None when the log line carried none) plus the node's clock at
probe time (``now``): the window is applied against the node's own clock, so facts judged later
(``plinth validate --facts``) give the same verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policies.thresholds import Threshold
from validators.checks.compare import fmt

Event = Mapping[str, Any]


def window(facts_section: Mapping[str, Any], threshold: Threshold, source: str) -> tuple[float | None, str]:
    """(cutoff in epoch seconds or None, how the counted span reads in a message)."""
    now = facts_section.get("now")
    if threshold.window_hours and isinstance(now, int | float):
        return now - threshold.window_hours * 3600, f"in the last {fmt(threshold.window_hours)} h ({source})"
    return None, f"since boot ({source})"


def counted(events: Sequence[Event], total: int, cutoff: float | None) -> tuple[int, list[Event]]:
    """(how many events of one kind fall in the window, those of them the probe sent). Undated
    events count (conservative). The probe sends only the newest few: when all of those are in the
    window, the older ones may be too, and the probe's total is reported."""
    if cutoff is None:
        return max(total, len(events)), list(events)
    inside = [e for e in events if not isinstance(e.get("ts"), int | float) or e["ts"] >= cutoff]
    if inside and len(inside) == len(events):
        return max(total, len(events)), inside
    return len(inside), inside
