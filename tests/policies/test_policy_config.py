"""Policy config: defaults from the profiles, both file shapes, one-line errors, the pack's schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policies.cost import estimate
from policies.errors import ConfigError
from policies.policy_config import (
    PolicyConfig,
    config_from_policy_args,
    load_policy_config,
    to_pulumi_policy_pack_config,
)
from policies.rules import ALL_POLICIES, CONFIG_PROPERTIES, DEFAULT_ENFORCEMENT, POLICY_NAMES
from policies.thresholds import builtin_profiles


def test_training_bandwidth_default_is_the_profiles_number() -> None:
    floor = builtin_profiles()["distributed_training"].threshold("network.bandwidth")
    assert floor is not None and PolicyConfig().min_training_bandwidth_gbps == floor.min == 100
    assert PolicyConfig().required_tags == ["owner", "cost-center", "strategy"]


def test_flat_yaml_file(tmp_path: Path) -> None:
    f = tmp_path / "policy.yaml"
    f.write_text("enforcement: {training-pool-efa: mandatory, required-tags: disabled}\nbudgetUsdPerHour: 120\n")
    cfg = load_policy_config(f, POLICY_NAMES)
    assert cfg.enforcement_for("training-pool-efa", "advisory") == "mandatory"
    assert cfg.enforcement_for("s3-bucket-tls-only", "mandatory") == "mandatory"
    assert cfg.budget_usd_per_hour == 120


def test_pulumi_policy_pack_config_shape_round_trips(tmp_path: Path) -> None:
    f = tmp_path / "pack-config.json"
    f.write_text(json.dumps({"all": "advisory",
                             "cost-within-budget": {"enforcementLevel": "mandatory", "budgetUsdPerHour": 80},
                             "required-tags": {"requiredTags": ["team"]}}))
    cfg = load_policy_config(f, POLICY_NAMES)
    assert cfg.enforcement["s3-bucket-versioning"] == "advisory"
    assert cfg.enforcement["cost-within-budget"] == "mandatory"
    assert cfg.budget_usd_per_hour == 80 and cfg.required_tags == ["team"]
    pack = to_pulumi_policy_pack_config(cfg, CONFIG_PROPERTIES)
    assert pack["cost-within-budget"] == {"budgetUsdPerHour": 80, "enforcementLevel": "mandatory"}
    assert config_from_policy_args(pack["required-tags"]).required_tags == ["team"]


@pytest.mark.parametrize(("text", "words"), [
    ('{"enforcement": {"no-such-rule": "mandatory"}}', "enforcement.no-such-rule: unknown policy"),
    ('{"enforcement": {"required-tags": "fatal"}}', "enforcement.required-tags"),
    ('{"budgetUsdPerHour": -5}', "budgetUsdPerHour"),
    ('{"budgetUSD": 5}', "budgetUSD: unknown field"),
    ('{"all": "loud"}', "all: enforcement must be one of"),
    ("{not json", "cannot read policy config"),
])
def test_bad_policy_config_is_one_line_naming_file_and_field(tmp_path: Path, text: str, words: str) -> None:
    f = tmp_path / "bad.json"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_policy_config(f, POLICY_NAMES)
    assert str(f) in str(err.value) and words in str(err.value) and "\n" not in str(err.value)


def test_every_policy_has_a_default_enforcement_and_valid_schema() -> None:
    assert len(POLICY_NAMES) == len(set(POLICY_NAMES)) == len(ALL_POLICIES) == 34
    assert set(DEFAULT_ENFORCEMENT) == set(POLICY_NAMES)
    for p in ALL_POLICIES:
        assert p.enforcement_level is not None and p.enforcement_level.value == DEFAULT_ENFORCEMENT[p.name]
        if CONFIG_PROPERTIES[p.name]:
            assert p.config_schema is not None
            for prop in p.config_schema.properties.values():
                assert "type" in prop and "anyOf" not in prop


def test_security_and_data_rules_are_mandatory_cost_and_performance_advisory() -> None:
    mandatory = {n for n, lvl in DEFAULT_ENFORCEMENT.items() if lvl == "mandatory"}
    assert {"s3-bucket-versioning", "s3-bucket-kms-encryption", "s3-bucket-public-access-blocked", "s3-bucket-tls-only",
            "kms-key-rotation", "security-group-no-open-ingress", "iot-policy-no-wildcards",
            "eks-endpoint-not-public", "s3-versioning-enabled", "s3-public-access-block-complete", "s3-acl-not-public",
            "s3-policy-not-public", "s3-policy-tls-only", "eks-secrets-encryption", "launch-template-imds-hop-limit",
            "eks-subnets-multi-az", "eks-system-node-capacity", "eks-accelerator-device-plugin"} <= mandatory
    assert {"cost-within-budget", "training-pool-efa", "training-pool-bandwidth", "required-tags", "eks-efa-device-plugin",
            "eks-scale-from-zero-autoscaler", "lakehouse-workload-identity"}.isdisjoint(mandatory)


def test_cost_estimate_is_price_times_max_nodes_at_the_dearest_type() -> None:
    est = estimate([("train", ["p5.48xlarge"], 4), ("mixed", ["g6.xlarge", "g6e.xlarge"], 2), ("cpu", ["m7i.large"], 3)])
    assert est.usd_per_hour == pytest.approx(4 * 55.04 + 2 * 1.861)
    assert est.pools[1].instance_type == "g6e.xlarge" and est.unpriced == ["cpu: m7i.large"]
