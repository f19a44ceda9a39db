"""Bad input never crashes: hypothesis generates >= 200 cases per input kind --
stack configs, inventories, profiles, policy configs, CLI arguments -- and every one is either
accepted or a ConfigError with ONE line naming the file and the field. Nothing else may escape
(no traceback). Accepted inventories never carry a shell character in a host, user, name or
interpreter (the "rejected or passed safely" half of the security guarantee)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from policies.errors import ConfigError
from policies.policy_config import PROPERTY_NAMES, load_policy_config
from policies.rules import POLICY_NAMES
from policies.thresholds import load_profile_file
from stacks.config import config_from_mapping, load_stack_file
from tests.reliability.inputs import (
    CASES,
    FUZZ,
    MIN_CASES,
    SHELL_CHARS,
    assert_one_line,
    maybe,
    names_a_field,
    values,
    words,
    yaml_bytes,
)
from validators.inventory import load_inventory

WORKDIR = Path(tempfile.mkdtemp(prefix="plinth-fuzz-"))
atexit.register(shutil.rmtree, WORKDIR, True)  # one throwaway directory per run, removed at exit


def _file(name: str, content: bytes) -> Path:
    path = WORKDIR / name
    path.write_bytes(content)
    return path


def _expect_config_error_or_ok(load: Any, path: Path, fields: tuple[str, ...] = ()) -> Any:
    try:
        return load(path)
    except ConfigError as exc:
        rest = assert_one_line(str(exc), str(path))
        assert names_a_field(rest, fields), f"error does not name a field: {exc}"
        return None


# -- stack configs ---------------------------------------------------------------------------

pool = st.fixed_dictionaries(
    {"name": maybe("train"), "instanceType": maybe("p4d.24xlarge")},
    optional={"minSize": maybe(0), "maxSize": maybe(2), "desiredSize": maybe(1), "capacityType": maybe("SPOT"),
              "profile": maybe("distributed_training"), "efa": maybe(True), "rootVolumeGb": maybe(200), "bogus": values},
)
stack_mapping = st.fixed_dictionaries(
    {"plinth:strategy": maybe("cloud-first")},
    optional={
        "aws:region": maybe("us-east-1"), "plinth:profile": maybe("single_gpu"), "plinth:prefix": maybe("acme"),
        "plinth:tags": maybe({"owner": "x", "cost-center": "y"}), "plinth:budgetUsdPerHour": maybe(10),
        "plinth:network": st.one_of(st.fixed_dictionaries({}, optional={"cidr": maybe("10.0.0.0/16"), "azCount": maybe(2),
                                                                         "onPremCidr": maybe("10.9.0.0/16"),
                                                                         "vpn": maybe({"customerGatewayIp": "203.0.113.1"})}), values),
        "plinth:gpuPools": st.one_of(st.lists(st.one_of(pool, values), max_size=3), values),
        "plinth:kubernetes": maybe({"context": "onprem", "teams": [{"name": "a", "gpus": 2}]}),
        "plinth:lakehouse": maybe({"zones": ["raw"], "lifecycle": {"standardIaDays": 30}}),
        "plinth:edge": maybe({"devices": [{"name": "d1"}]}),
        "plinth:cluster": maybe({"version": "1.33"}),
    },
).flatmap(lambda m: st.dictionaries(st.one_of(words, st.integers()), values, max_size=2).map(lambda extra: {**extra, **m}))


@FUZZ
@given(mapping=stack_mapping)
@example(mapping={"plinth:strategy": "hybrid"})
@example(mapping={1: "x"})
@example(mapping={"plinth:gpuPools": [{"name": "a", "instanceType": "p5.48xlarge", "maxSize": 2**70}], "plinth:strategy": "cloud-first"})
def test_stack_config_mapping_never_crashes(mapping: dict[Any, Any]) -> None:
    CASES["stack config (mapping)"] += 1
    where = "stacks/Pulumi.fuzz.yaml"
    try:
        config_from_mapping(mapping, where)
    except ConfigError as exc:
        rest = assert_one_line(str(exc), where)
        assert names_a_field(rest, ("plinth:",)), str(exc)


@FUZZ
@given(content=yaml_bytes(st.one_of(stack_mapping.map(lambda m: {"config": m}), values)))
def test_stack_file_never_crashes(content: bytes) -> None:
    CASES["stack config (file)"] += 1
    _expect_config_error_or_ok(load_stack_file, _file("Pulumi.fuzz.yaml", content), ("plinth:",))


# -- inventories -----------------------------------------------------------------------------

node = st.fixed_dictionaries(
    {"name": maybe("gpu-0"), "host": maybe("10.0.1.10")},
    optional={"user": maybe("ubuntu"), "port": maybe(22), "python": maybe("/usr/bin/python3"), "role": maybe("gpu"),
              "identity_file": maybe("~/.ssh/id_ed25519"), "known_hosts": maybe("~/.ssh/known_hosts"),
              "transport": maybe("ssh"), "expect": maybe({"gpus": 8, "gpu_model": "H100"}),
              "jump": maybe({"host": "bastion", "user": "ec2-user"}), "prot": values},
)
inventory = st.fixed_dictionaries(
    {"nodes": st.one_of(st.lists(st.one_of(node, node, values), max_size=4), values)},
    optional={"defaults": maybe({"user": "ubuntu", "port": 22}), "profile": maybe("single_gpu"),
              "object_store": maybe({"endpoint": "http://127.0.0.1:9000", "bucket": "lake-raw"}),
              "jump": maybe({"host": "bastion"}), "extra": values},
)


# a plinth inventory's keys, and what an Ansible inventory's errors name (text that is not a YAML
# mapping, or has [section] lines, is read as Ansible INI: validators/inventory_formats)
INVENTORY_KEYS = ("defaults", "profile", "jump", "nodes", "object_store", "ssh_config", "host ", "group ", "[")


def _safe(value: str) -> bool:
    return not (set(value) & SHELL_CHARS) and not value.startswith("-")


@FUZZ
@given(content=yaml_bytes(st.one_of(inventory, inventory, values)))
@example(content=b"nodes:\n  - {name: a, host: '10.0.0.2; touch /tmp/pwned'}\n")
@example(content=b"nodes:\n  - {name: a, host: h, user: '$(id)', python: 'python3 -c id'}\n")
@example(content=b"nodes:\n  - {name: a, host: -oProxyCommand=id}\n")
def test_inventory_never_crashes_and_accepted_fields_are_shell_safe(content: bytes) -> None:
    CASES["inventory"] += 1
    inv = _expect_config_error_or_ok(load_inventory, _file("inventory.yaml", content), INVENTORY_KEYS)
    if inv is None:
        return
    for n in inv.nodes:
        for value in (n.name, n.host, n.user, n.python, *(() if n.jump is None else (n.jump.host, n.jump.user or ""))):
            assert _safe(value), f"inventory accepted a shell character: {value!r}"


# -- profiles --------------------------------------------------------------------------------

threshold = st.fixed_dictionaries(
    {}, optional={"min": maybe(1.0), "max": maybe(10), "expect": maybe(True), "unit": maybe("GiB"),
                  "warn_margin": maybe(0.05), "why": maybe("because"), "minn": values},
)
profile = st.fixed_dictionaries(
    {"name": maybe("mine"), "description": maybe("d"),
     "thresholds": st.one_of(st.dictionaries(st.one_of(st.sampled_from(["gpu.count", "network.bandwidth"]), words),
                                             st.one_of(threshold, values), max_size=3), values)},
    optional={"extra": values},
)


@FUZZ
@given(content=yaml_bytes(st.one_of(profile, profile, values)))
def test_profile_file_never_crashes(content: bytes) -> None:
    CASES["profile"] += 1
    _expect_config_error_or_ok(load_profile_file, _file("profile.yaml", content), ("name", "description", "thresholds"))


# -- policy configs --------------------------------------------------------------------------

policy_names = st.sampled_from(sorted(POLICY_NAMES))
levels = maybe("mandatory")
flat = st.fixed_dictionaries(
    {}, optional={"enforcement": st.one_of(st.dictionaries(st.one_of(policy_names, words), levels, max_size=3), values),
                  "budgetUsdPerHour": maybe(120), "requiredTags": maybe(["owner"]), "allowedInstanceTypes": maybe(["p5.48xlarge"]),
                  "minTrainingBandwidthGbps": maybe(100), "maxNodesPerPool": maybe(8), "bogus": values},
)
pulumi_shape = st.dictionaries(
    st.one_of(policy_names, st.just("all")),
    st.one_of(levels, st.fixed_dictionaries({"enforcementLevel": levels}, optional={"budgetUsdPerHour": maybe(80)}), values),
    max_size=4,
)


@FUZZ
@given(content=yaml_bytes(st.one_of(flat, pulumi_shape, values)), suffix=st.sampled_from([".yaml", ".json"]))
def test_policy_config_never_crashes(content: bytes, suffix: str) -> None:
    CASES["policy config"] += 1
    _expect_config_error_or_ok(lambda p: load_policy_config(p, POLICY_NAMES), _file(f"policy{suffix}", content),
                               ("enforcement", "all", *PROPERTY_NAMES, *POLICY_NAMES))


# -- the case counts are real ----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["stack config (mapping)", "stack config (file)", "inventory", "profile", "policy config"])
def test_each_fuzzer_ran_at_least_200_cases(kind: str) -> None:
    if CASES[kind] == 0:
        pytest.skip(f"the {kind} fuzzer was not selected in this run")
    assert CASES[kind] >= MIN_CASES, dict(CASES)

