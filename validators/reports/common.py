"""What every reporter shares: verdict words, status glyphs, how a value and a bound are shown."""

from __future__ import annotations

import importlib

from validators.results import CheckResult, Status

EMOJI: dict[Status, str] = {"pass": "✅", "warn": "⚠️", "fail": "❌", "error": "🛑", "skip": "⏭️"}
COLOUR: dict[Status, str] = {"pass": "green", "warn": "yellow", "fail": "red", "error": "bold magenta", "skip": "dim"}


def verdict(score: float) -> str:
    """The seed's words for the 0-100 readiness score."""
    try:  # validators.score owns the mapping when it defines one
        score_mod = importlib.import_module("validators.score")
        fn = getattr(score_mod, "verdict", None)
        if callable(fn):
            return str(fn(score))
    except ImportError:
        pass
    if score < 50:
        return "urgent action required"
    if score < 75:
        return "modernisation needed"
    return "good foundation"


def _num(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def measured_text(c: CheckResult) -> str:
    if c.measured is None:
        return "—"
    return f"{_num(c.measured)} {c.unit}" if c.unit and not isinstance(c.measured, (bool, str)) else _num(c.measured)


def threshold_text(c: CheckResult) -> str:
    if c.threshold is None:
        return "—"
    return f"{_num(c.threshold)} {c.unit}" if c.unit and not isinstance(c.threshold, (bool, str)) else _num(c.threshold)
