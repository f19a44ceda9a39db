"""Config errors name the cause, not the consequence: the unknown key with did-you-mean (not the
required field the typo left missing), YAML errors at file:line:column, and plinth's words where
pydantic's used to leak ("Input should be a valid integer, unable to parse string as an integer")."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from policies.errors import ConfigError, describe
from policies.policy_config import load_policy_config
from policies.rules import POLICY_NAMES
from policies.thresholds import load_profile_file
from stacks.config import load_stack_file
from tests.reliability.inputs import PYDANTIC_WORDS
from validators.inventory import load_inventory

STACK = """\
config:
  aws:region: us-east-1
  plinth:strategy: cloud-first
  plinth:tags: {owner: a, cost-center: b}
  plinth:gpuPools:
    - name: train
      instanceTyp: p5.48xlarge
      maxSize: 2
"""

CASES = [
    # (loader, file name, content, the exact one line after the path)
    ("stack", "Pulumi.dev.yaml", STACK,
     ":7:7: plinth:gpuPools[0]: unknown key 'instanceTyp' (did you mean 'instanceType'?) (+1 more)"),
    ("stack", "Pulumi.dev.yaml", STACK.replace("instanceTyp", "instanceType").replace("maxSize: 2", "maxSize: lots"),
     ":8:16: plinth:gpuPools[0].maxSize: expected a whole number (got 'lots')"),
    ("stack", "Pulumi.dev.yaml", STACK.replace("instanceTyp", "instanceType").replace("plinth:gpuPools:", "plinth:gpuPool:"),
     ":5:3: config: unknown key 'plinth:gpuPool' (did you mean 'plinth:gpuPools'?)"),
    ("stack", "Pulumi.dev.yaml", STACK.replace("instanceTyp", "instanceType").replace("cloud-first", "cloud-frist"),
     ":3:20: plinth:strategy: expected 'cloud-first', 'hybrid' or 'edge-centric' (got 'cloud-frist')"),
    ("stack", "Pulumi.dev.yaml", STACK.replace("instanceTyp", "instanceType").replace("      maxSize: 2\n", "      maxSize: 2\n      maxSize: 3\n"),
     ":9:7: not valid YAML: duplicate key 'maxSize' (first given on line 8)"),
    ("inventory", "inv.yaml", "nodes:\n  - name: gpu-0\n    hots: 10.0.0.1\n",
     ":3:5: nodes[0]: unknown key 'hots' (did you mean 'host'?) (+1 more)"),
    ("inventory", "inv.yaml", "nodes:\n  - name: gpu-0\n    host: 10.0.0.1\n    port: 70000\n",
     ":4:11: nodes[0].port: must be at most 65535 (got 70000)"),
    ("inventory", "inv.yaml", "nodes:\n  - {name: gpu-0, host: 10.0.0.1\n",
     ":3:1: not valid YAML: while parsing a flow mapping, did not find expected ',' or '}'"),
    ("inventory", "inv.yaml", "defaults: {user: ubuntu}\nnode:\n  - {name: a, host: b}\n",
     ":2:1: (top level): unknown key 'node' (did you mean 'nodes'?) (+1 more)"),
    ("profile", "mine.yaml", "name: mine\ndescription: d\nthresholds:\n  gpu.count: {mni: 1}\n",
     ":4:15: thresholds.gpu.count: unknown key 'mni' (did you mean 'min'?)"),
    ("profile", "mine.yaml", "name: mine\ndescription: d\nthresholds:\n  gpu.count: {min: .nan}\n",
     ":4:20: thresholds.gpu.count.min: expected a finite number (got nan)"),
    ("profile", "mine.yaml", "name: mine\ndescription: d\nthresholds:\n  gpu.count: {expect: {a: 1}}\n",
     ":4:23: thresholds.gpu.count.expect: expected text, true or false, a whole number or a number (got a mapping)"),
    ("policy", "policy.yaml", "budgetUsdPerHuor: 10\n",
     ":1:1: (top level): unknown key 'budgetUsdPerHuor' (did you mean 'budgetUsdPerHour'?)"),
    ("policy", "policy.yaml", "enforcement:\n  required-tag: mandatory\n",
     ":2:3: enforcement: unknown policy 'required-tag' (did you mean 'required-tags'?)"),
]
LOADERS = {"stack": load_stack_file, "inventory": load_inventory, "profile": load_profile_file,
           "policy": lambda p: load_policy_config(p, POLICY_NAMES)}


@pytest.mark.parametrize(("kind", "name", "content", "want"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_the_error_names_file_line_column_key_and_cause(kind: str, name: str, content: str, want: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        LOADERS[kind](path)
    assert str(err.value) == f"{path}{want}"
    assert not any(words in str(err.value) for words in PYDANTIC_WORDS)


def test_did_you_mean_comes_from_the_model_so_a_new_field_is_suggested_without_code() -> None:
    """Another engineer adds a field to a model: its misspelling is suggested at once (nothing to
    register), and the alias the user writes is what is suggested."""

    class Pool(BaseModel):
        model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)
        name: str
        placement_strategy: str | None = None  # "new" field

    with pytest.raises(ValidationError) as err:
        Pool.model_validate({"name": "a", "placementStrategey": "spread"})
    what, where = describe(err.value, Pool)
    assert what == "(top level): unknown key 'placementStrategey' (did you mean 'placementStrategy'?)" and where is None


def test_without_a_close_match_the_keys_are_listed() -> None:
    class Small(BaseModel):
        model_config = ConfigDict(extra="forbid")
        alpha: int = 0
        beta: int = 0

    with pytest.raises(ValidationError) as err:
        Small.model_validate({"zzz": 1})
    assert describe(err.value, Small)[0] == "(top level): unknown key 'zzz' (expected one of: alpha, beta)"
