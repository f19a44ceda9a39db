"""What every reporter shares: verdict words, status glyphs, how a value and a bound are shown."""

from __future__ import annotations

from validators.results import CheckResult, Status
from validators.score import band, score_node

EMOJI: dict[Status, str] = {"pass": "✅", "warn": "⚠️", "fail": "❌", "error": "🛑", "skip": "⏭️"}
COLOUR: dict[Status, str] = {"pass": "green", "warn": "yellow", "fail": "red", "error": "bold magenta", "skip": "dim"}


def verdict(score: float) -> str:
    """The seed's words for the 0-100 readiness score (bands owned by validators/score.py)."""
    return band(score)


def gaps(checks: list[CheckResult]) -> list[str]:
    """The seed's named gaps (NO_GPU_DETECTED, INADEQUATE_NETWORK, ...) of one node's results."""
    return list(score_node(checks).gaps)


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
