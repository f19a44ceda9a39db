"""Bad stack files: one line naming the file and the field, offline (load_stack_file) and in the
Pulumi program (from_pulumi_config -> pulumi.RunError, which the CLI prints without a traceback)."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pytest
import yaml
from conftest import STACKS

from policies.errors import ConfigError
from stacks.config import load_stack, load_stack_file
from stacks.program import cli_config_for_stack, cli_config_values, project_config_defaults

GOOD = {
    "aws:region": "us-east-1",
    "plinth:strategy": "cloud-first",
    "plinth:tags": {"owner": "t", "cost-center": "c"},
    "plinth:gpuPools": [{"name": "train", "instanceType": "p4d.24xlarge", "maxSize": 2}],
}
HYBRID = {
    "plinth:strategy": "hybrid",
    "plinth:network": {"onPremCidr": "10.100.0.0/16"},
}


def _variant(base: dict, **changes) -> dict:
    out = {k: v for k, v in base.items() if k not in changes or changes[k] is not None}
    out.update({k: v for k, v in changes.items() if v is not None})
    return out


BAD = [
    pytest.param(_variant(GOOD, **{"plinth:gpuPools": [{"name": "train", "instanceType": "p4d.24xlarge", "maxSize": "lots"}]}),
                 "plinth:gpuPools[0].maxSize", id="wrong-type"),
    pytest.param({k: v for k, v in GOOD.items() if k != "plinth:strategy"}, "plinth:strategy", id="missing-strategy"),
    pytest.param(_variant(GOOD, **{"plinth:gpuPool": []}), "config: unknown key 'plinth:gpuPool' (did you mean 'plinth:gpuPools'?)",
                 id="unknown-field"),
    pytest.param(HYBRID, "plinth:kubernetes", id="hybrid-without-kubernetes"),
    pytest.param(_variant(GOOD, **{"plinth:gpuPools": [{"name": "train", "instanceType": "p4d.24xlarge", "minSize": 3, "maxSize": 2, "desiredSize": 3}]}),
                 "plinth:gpuPools[0]", id="min-over-max"),
    pytest.param(_variant(GOOD, **{"plinth:profile": "training"}), "plinth:profile", id="unknown-profile"),
    pytest.param(_variant(GOOD, **{"plinth:strategy": "multi-cloud"}), "plinth:strategy", id="unknown-strategy"),
]


@pytest.mark.parametrize(("config", "field"), BAD)
def test_bad_stack_file_names_file_and_field(tmp_path: Path, config: dict, field: str):
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    with pytest.raises(ConfigError) as err:
        load_stack_file(path)
    msg = str(err.value)
    assert re.match(rf"^{re.escape(str(path))}:\d+:\d+: ", msg) and field in msg and "\n" not in msg  # file:line:column


@pytest.mark.parametrize(("config", "field"), BAD)
def test_bad_config_in_the_program_is_a_one_line_run_error(run_config, config: dict, field: str):
    """The same mistakes, as `pulumi up` would meet them: a RunError (no traceback) naming the
    stack file the user edits and the field."""
    with pytest.raises(pulumi.RunError) as err:
        run_config(config, stack="bad")
    msg = str(err.value)
    assert "Pulumi.bad.yaml" in msg and field in msg and "\n" not in msg


def test_minsize_over_maxsize_message_says_what_must_hold(tmp_path: Path):
    path = tmp_path / "Pulumi.x.yaml"
    pools = [{"name": "train", "instanceType": "p4d.24xlarge", "minSize": 3, "maxSize": 2, "desiredSize": 3}]
    path.write_text(yaml.safe_dump({"config": _variant(GOOD, **{"plinth:gpuPools": pools})}))
    with pytest.raises(ConfigError, match="minSize <= desiredSize <= maxSize"):
        load_stack_file(path)


@pytest.mark.parametrize("stack", ["cloud-first", "hybrid", "edge"])
def test_committed_stacks_load_with_required_tags(stack: str):
    cfg = load_stack(stack)
    assert {"owner", "cost-center"} <= set(cfg.tags)
    assert cfg.strategy == {"cloud-first": "cloud-first", "hybrid": "hybrid", "edge": "edge-centric"}[stack]


def test_committed_hybrid_and_edge_stacks_say_what_the_brief_asks():
    hybrid = load_stack("hybrid")
    assert hybrid.kubernetes and hybrid.kubernetes.context and hybrid.kubernetes.teams
    assert hybrid.network.on_prem_cidr == "10.100.0.0/16"
    assert hybrid.network.vpn and hybrid.network.vpn.customer_gateway_ip == "203.0.113.10"
    burst = hybrid.gpu_pools[0]
    assert (burst.instance_type, burst.min_size, burst.max_size, burst.capacity_type, burst.interruptible) == (
        "g6e.12xlarge", 0, 4, "SPOT", True)
    edge = load_stack("edge")
    assert edge.profile == "edge_inference" and edge.edge is not None
    assert sorted(d.hardware for d in edge.edge.devices) == ["intel-nuc", "jetson", "raspberry-pi"]
    assert edge.edge.workload and edge.edge.workload.image and edge.edge.workload.node_selector


def test_cli_encoding_matches_what_pulumi_passes():
    encoded = cli_config_values({"a:s": "x", "a:b": True, "a:n": 250, "a:f": 1.5, "a:o": {"k": [1, "v"]}})
    assert encoded == {"a:s": "x", "a:b": "true", "a:n": "250", "a:f": "1.5", "a:o": '{"k":[1,"v"]}'}


def test_pulumi_yaml_defaults_reach_the_program_unless_the_stack_sets_them(tmp_path: Path):
    defaults = project_config_defaults()
    assert defaults == {"plinth:profile": "distributed_training", "plinth:prefix": "plinth"}
    path = tmp_path / "Pulumi.min.yaml"
    path.write_text(yaml.safe_dump({"config": {"plinth:strategy": "cloud-first", "plinth:prefix": "mine"}}))
    config = cli_config_for_stack(path)
    assert config["plinth:profile"] == "distributed_training" and config["plinth:prefix"] == "mine"


def test_pulumi_yaml_declares_project_keys_in_the_form_the_cli_accepts():
    """Pulumi only accepts a typed schema for keys in the project's namespace (no ':' or 'plinth:');
    types are string, boolean, integer or array."""
    project = yaml.safe_load((STACKS.parent / "Pulumi.yaml").read_text())
    assert project["name"] == "plinth" and project["stackConfigDir"] == "stacks"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    for key, spec in project["config"].items():
        assert ":" not in key or key.startswith("plinth:"), key
        assert spec["type"] in {"string", "boolean", "integer", "array"} and spec["description"]
    assert "default" not in project["config"]["strategy"]  # required: every stack must choose


def test_plinth_region_is_refused_with_a_pointer_to_aws_region(run_config):
    with pytest.raises(pulumi.RunError, match=r"unknown key 'plinth:region' \(the region is aws:region\)"):
        run_config({**GOOD, "plinth:region": "eu-west-1"}, stack="bad")
