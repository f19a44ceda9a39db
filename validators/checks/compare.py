"""Shared comparison helpers for judges: a measured value against a profile threshold becomes a
:class:`CheckResult` with a status and a message that names the value, the bound and the miss.

Status rules (ARCHITECTURE.md §3):

* floor (``threshold.min``): ``measured < min`` → fail; ``min <= measured < min·(1+warn_margin)``
  → warn (passes, but with no headroom); else pass.
* ceiling (``threshold.max``): ``measured > max`` → fail; ``max·(1-warn_margin) < measured <= max``
  → warn; else pass. A ceiling of 0 (error counts) never warns: 0 is a pass, 1 is a fail.
* ``measured is None`` → error ("could not be measured"), never pass.
* a missing bound in the profile → error naming the profile field, so a typo in a user's profile
  does not silently pass.

These helpers are pure and cheap; every module in ``validators.checks`` uses them so messages
read the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.thresholds import Threshold
from validators.results import CheckResult

Number = int | float


def fmt(value: Any) -> str:
    """A number as a person writes it: 8, 9000, 1.5, 0.25 (no trailing zeros, no exponent
    for the magnitudes plinth deals with)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}".rstrip("0").rstrip(".")
        return f"{value:.3g}"
    return str(value)


def _same(a: str | bool | float, b: str | bool | float) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().casefold() == b.strip().casefold()
    if isinstance(a, bool) or isinstance(b, bool):  # True must not equal 1
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    return a == b


def _with_unit(value: Any, unit: str | None) -> str:
    return f"{fmt(value)} {unit}" if unit else fmt(value)


def _unit(threshold: Threshold, unit: str | None) -> str | None:
    return unit if unit is not None else threshold.unit


def not_run(check_id: str, reason: str, *, threshold: Threshold | None = None, remediation: str | None = None) -> CheckResult:
    """The check could not run (facts missing, tool failed): ``error`` with the reason — never pass."""
    return CheckResult.make(
        check_id, "error", reason, threshold=_bound(threshold), unit=threshold.unit if threshold else None,
        remediation=remediation,
    )


def not_applicable(check_id: str, reason: str, *, threshold: Threshold | None = None) -> CheckResult:
    """The check does not apply to this node (no GPU in an edge profile, MIG mode…): ``skip``."""
    return CheckResult.make(check_id, "skip", reason, threshold=_bound(threshold), unit=threshold.unit if threshold else None)


def _bound(threshold: Threshold | None) -> float | int | str | bool | None:
    if threshold is None:
        return None
    for value in (threshold.min, threshold.max, threshold.expect):
        if value is not None:
            return value
    return None


def at_least(
    check_id: str,
    measured: Number | None,
    threshold: Threshold,
    *,
    what: str,
    remediation: str | None = None,
    floor: Number | None = None,
    unit: str | None = None,
    warn: bool = True,
) -> CheckResult:
    """``measured`` must be at least the floor (``floor`` if given, else ``threshold.min``).

    ``what`` names the quantity in the message ("physical CPU cores", "NIC MTU on eth0").
    ``warn=False`` for exact counts and settings (8 of 8 GPUs, MTU 9001) where sitting on the
    floor is the goal, not a lack of headroom."""
    unit = _unit(threshold, unit)
    bound = floor if floor is not None else threshold.min
    if bound is None:
        return not_run(check_id, f"{what}: the profile gives no minimum for {check_id} (set `min:`)", threshold=threshold)
    if measured is None:
        return CheckResult.make(
            check_id, "error", f"{what}: could not be measured (needs >= {_with_unit(bound, unit)})",
            threshold=bound, unit=unit, remediation=remediation,
        )
    if measured < bound:
        short = bound - measured
        pct = f", {short / bound * 100:.0f}% below" if bound else ""
        return CheckResult.make(
            check_id, "fail",
            f"{what}: {_with_unit(measured, unit)}, needs >= {_with_unit(bound, unit)} ({fmt(short)} short{pct})",
            measured=measured, threshold=bound, unit=unit, remediation=remediation,
        )
    margin = bound * threshold.warn_margin if warn else 0.0
    if margin > 0 and measured < bound + margin:
        headroom = (measured - bound) / bound * 100 if bound else 0.0
        return CheckResult.make(
            check_id, "warn",
            f"{what}: {_with_unit(measured, unit)} meets >= {_with_unit(bound, unit)} with only {headroom:.1f}% headroom "
            f"(warn below {_with_unit(bound + margin, unit)})",
            measured=measured, threshold=bound, unit=unit, remediation=remediation,
        )
    return CheckResult.make(check_id, "pass", f"{what}: {_with_unit(measured, unit)} (>= {_with_unit(bound, unit)})", measured=measured, threshold=bound, unit=unit)


def at_most(
    check_id: str,
    measured: Number | None,
    threshold: Threshold,
    *,
    what: str,
    remediation: str | None = None,
    ceiling: Number | None = None,
    unit: str | None = None,
    warn: bool = True,
) -> CheckResult:
    """``measured`` must be at most the ceiling (``ceiling`` if given, else ``threshold.max``)."""
    unit = _unit(threshold, unit)
    bound = ceiling if ceiling is not None else threshold.max
    if bound is None:
        return not_run(check_id, f"{what}: the profile gives no maximum for {check_id} (set `max:`)", threshold=threshold)
    if measured is None:
        return CheckResult.make(
            check_id, "error", f"{what}: could not be measured (needs <= {_with_unit(bound, unit)})",
            threshold=bound, unit=unit, remediation=remediation,
        )
    if measured > bound:
        over = measured - bound
        pct = f", {over / bound * 100:.0f}% above" if bound else ""
        return CheckResult.make(
            check_id, "fail",
            f"{what}: {_with_unit(measured, unit)}, needs <= {_with_unit(bound, unit)} ({fmt(over)} over{pct})",
            measured=measured, threshold=bound, unit=unit, remediation=remediation,
        )
    margin = bound * threshold.warn_margin if warn else 0.0
    if margin > 0 and measured > bound - margin:
        headroom = (bound - measured) / bound * 100
        return CheckResult.make(
            check_id, "warn",
            f"{what}: {_with_unit(measured, unit)} is within <= {_with_unit(bound, unit)} with only {headroom:.1f}% headroom "
            f"(warn above {_with_unit(bound - margin, unit)})",
            measured=measured, threshold=bound, unit=unit, remediation=remediation,
        )
    return CheckResult.make(check_id, "pass", f"{what}: {_with_unit(measured, unit)} (<= {_with_unit(bound, unit)})", measured=measured, threshold=bound, unit=unit)


def expect_equal(
    check_id: str,
    measured: str | bool | float | None,
    threshold: Threshold,
    *,
    what: str,
    remediation: str | None = None,
    expected: str | bool | float | None = None,
    unit: str | None = None,
) -> CheckResult:
    """``measured`` must equal the expectation (``expected`` if given, else ``threshold.expect``).
    Strings compare case-insensitively and without surrounding blanks ("enabled" == "Enabled")."""
    unit = _unit(threshold, unit)
    want = expected if expected is not None else threshold.expect
    if want is None:
        return not_run(check_id, f"{what}: the profile gives no expectation for {check_id} (set `expect:`)", threshold=threshold)
    if measured is None:
        return CheckResult.make(
            check_id, "error", f"{what}: could not be determined (expected {_with_unit(want, unit)})",
            threshold=want, unit=unit, remediation=remediation,
        )
    same = _same(measured, want)
    if same:
        return CheckResult.make(check_id, "pass", f"{what}: {_with_unit(measured, unit)} (as expected)", measured=measured, threshold=want, unit=unit)
    return CheckResult.make(
        check_id, "fail", f"{what}: {_with_unit(measured, unit)}, expected {_with_unit(want, unit)}",
        measured=measured, threshold=want, unit=unit, remediation=remediation,
    )


def section_problem(facts: Mapping[str, Any], section: str) -> str | None:
    """Why a probe section can't be judged (the probe failed to gather it, or it is absent), else None."""
    errors = facts.get("errors") or {}
    if section in errors:
        return f"probe could not gather {section}: {errors[section]}"
    if facts.get(section) is None:
        return f"probe returned no {section} facts"
    return None
