"""Lifecycle rules (pure): tiers ascend hot → cold, noncurrent versions are handled, S3's limits hold."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.lifecycle import (
    ABORT_MULTIPART_DAYS,
    MIN_DAYS_IN_STANDARD_IA,
    TIER_ORDER,
    log_retention_rules,
    noncurrent_transition_days,
    tiering_rules,
)
from policies.errors import ConfigError
from stacks.config import LifecycleConfig


def rules(cfg: LifecycleConfig) -> list[Any]:
    """The rule args, typed loosely: their fields are pulumi Inputs, concrete values here."""
    return list(tiering_rules(cfg))


def transitions(rule: Any) -> list[tuple[str, int]]:
    return [(t.storage_class, t.days) for t in rule.transitions]


def test_default_rule_tiers_objects_in_order_with_ascending_days() -> None:
    [rule] = rules(LifecycleConfig())
    assert rule.status == "Enabled"
    assert rule.filter.prefix == ""  # whole bucket
    assert transitions(rule) == [("STANDARD_IA", 30), ("GLACIER_IR", 90), ("DEEP_ARCHIVE", 365)]
    assert [c for c, _ in transitions(rule)] == list(TIER_ORDER)


def test_noncurrent_versions_move_to_glacier_ir_then_expire_and_multipart_uploads_are_aborted() -> None:
    [rule] = rules(LifecycleConfig(noncurrent_expiry_days=120))
    [nct] = rule.noncurrent_version_transitions
    assert (nct.storage_class, nct.noncurrent_days) == ("GLACIER_IR", 30)
    assert rule.noncurrent_version_expiration.noncurrent_days == 120
    assert rule.abort_incomplete_multipart_upload.days_after_initiation == ABORT_MULTIPART_DAYS


def test_no_noncurrent_transition_when_versions_expire_first() -> None:
    cfg = LifecycleConfig(noncurrent_expiry_days=10)
    assert noncurrent_transition_days(cfg) is None
    [rule] = rules(cfg)
    assert rule.noncurrent_version_transitions is None
    assert rule.noncurrent_version_expiration.noncurrent_days == 10


def test_glacier_too_soon_after_standard_ia_is_a_config_error_naming_the_field() -> None:
    cfg = LifecycleConfig(standard_ia_days=60, glacier_ir_days=70, deep_archive_days=400)
    with pytest.raises(ConfigError, match=r"^plinth:lakehouse\.lifecycle\.glacierIrDays: .*got 70 after 60"):
        tiering_rules(cfg)


def test_log_retention_expires_objects_and_versions() -> None:
    [rule] = list[Any](log_retention_rules(365))
    assert rule.expiration.days == 365
    assert rule.noncurrent_version_expiration.noncurrent_days == 30
    assert rule.transitions is None


@settings(max_examples=60, deadline=None)
@given(ia=st.integers(30, 400), gap1=st.integers(MIN_DAYS_IN_STANDARD_IA, 400), gap2=st.integers(1, 400),
       nc=st.integers(1, 500))
def test_any_valid_config_gives_strictly_ascending_days_in_tier_order(ia: int, gap1: int, gap2: int, nc: int) -> None:
    cfg = LifecycleConfig(standard_ia_days=ia, glacier_ir_days=ia + gap1, deep_archive_days=ia + gap1 + gap2,
                          noncurrent_expiry_days=nc)
    [rule] = rules(cfg)
    pairs = transitions(rule)
    days = [d for _, d in pairs]
    assert [c for c, _ in pairs] == list(TIER_ORDER)
    assert all(a < b for a, b in pairwise(days))
    assert days[0] >= 30
    nct = rule.noncurrent_version_transitions
    if nct:
        assert nct[0].noncurrent_days < rule.noncurrent_version_expiration.noncurrent_days
