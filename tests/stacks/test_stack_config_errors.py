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
    "plinth:cluster": {"endpointPublicAccess": True, "publicAccessCidrs": ["198.51.100.0/24"]},
    "plinth:gpuPools": [{"name": "train", "instanceType": "p4d.24xlarge", "maxSize": 2, "availabilityZone": "us-east-1b"}],
}
TRAIN = GOOD["plinth:gpuPools"][0]
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
    pytest.param(_variant(GOOD, **{"plinth:gpuPools": [{**TRAIN, "minSize": 3, "maxSize": 2, "desiredSize": 3}]}),
                 "plinth:gpuPools[0]: sizes must satisfy", id="min-over-max"),
    pytest.param(_variant(GOOD, **{"plinth:profile": "training"}), "plinth:profile", id="unknown-profile"),
    pytest.param(_variant(GOOD, **{"plinth:strategy": "multi-cloud"}), "plinth:strategy", id="unknown-strategy"),
    # An EKS cluster the deploy (or EKS itself) could not use:
    pytest.param(_variant(GOOD, **{"plinth:network": {"azCount": 1}}), "plinth:network.azCount: EKS needs subnets in at least two",
                 id="one-zone-eks"),
    pytest.param({k: v for k, v in GOOD.items() if k != "plinth:cluster"}, "plinth:cluster.endpointPublicAccess: the API endpoint is private-only",
                 id="private-endpoint-deployed-from-outside"),
    pytest.param(_variant(GOOD, **{"plinth:cluster": {"endpointPublicAccess": True}}), "plinth:cluster.publicAccessCidrs",
                 id="public-endpoint-without-allow-list"),
    pytest.param(_variant(GOOD, **{"plinth:cluster": {"deployFromVpc": True, "version": "1.29"}}), "plinth:cluster.version",
                 id="unpinned-cluster-version"),
    pytest.param(_variant(GOOD, **{"plinth:cluster": {"deployFromVpc": True, "systemNodes": {"instanceType": "m6i-large"}}}),
                 "plinth:cluster.systemNodes.instanceType", id="system-nodes-instance-type-typo"),
    pytest.param(_variant(GOOD, **{"plinth:gpuPools": [{**TRAIN, "availabilityZone": None}]}),
                 "plinth:gpuPools[0].availabilityZone: a pool that trains across nodes", id="training-pool-without-zone"),
    pytest.param(_variant(GOOD, **{"plinth:network": {"availabilityZones": ["us-east-1a", "us-east-1c"]}}),
                 "plinth:gpuPools[0].availabilityZone: us-east-1b is not one of", id="pool-zone-outside-network"),
    pytest.param(_variant(GOOD, **{"plinth:gpuPools": [{**TRAIN, "capacityType": "CAPACITY_BLOCK"}]}),
                 "plinth:gpuPools[0].capacityReservation.id", id="capacity-block-without-reservation"),
    pytest.param(_variant(GOOD, **{"plinth:gpuPools": [{**TRAIN, "capacityType": "SPOT", "interruptible": True,
                                                          "capacityReservation": {"id": "cr-0123456789abcdef0"}}]}),
                 "plinth:gpuPools[0].capacityReservation", id="spot-with-reservation"),
    pytest.param(_variant(GOOD, **{"plinth:lakehouse": {"access": [
        {"namespace": "research", "serviceAccount": "t", "read": ["gold"]}]}}), "plinth:lakehouse.access[0].read", id="access-to-unknown-zone"),
    # The on-prem end of the VPN must be a router AWS can reach.
    pytest.param({**HYBRID, "plinth:kubernetes": {}, "plinth:network": {"onPremCidr": "10.100.0.0/16",
                                                                        "vpn": {"customerGatewayIp": "203.0.113.10"}}},
                 "plinth:network.vpn.customerGatewayIp: 203.0.113.10 is a documentation address, TEST-NET-3",
                 id="vpn-test-net"),
    pytest.param({**HYBRID, "plinth:kubernetes": {}, "plinth:network": {"onPremCidr": "10.100.0.0/16",
                                                                        "vpn": {"customerGatewayIp": "192.168.1.1"}}},
                 "plinth:network.vpn.customerGatewayIp: 192.168.1.1 is a private address", id="vpn-private"),
    pytest.param({**HYBRID, "plinth:kubernetes": {}, "plinth:network": {"onPremCidr": "10.100.0.0/16", "vpn": {"bgpAsn": 65010}}},
                 "plinth:network.vpn: required key 'customerGatewayIp' is missing", id="vpn-no-gateway"),
    pytest.param({**HYBRID, "plinth:kubernetes": {}, "plinth:network": {"onPremCidr": "10.100.0.0/16", "vpn": {
        "customerGatewayIp": "12.1.2.3", "bgpAsn": 4294967295}}}, "plinth:network.vpn.bgpAsn", id="vpn-asn-too-big"),
    pytest.param({**HYBRID, "plinth:kubernetes": {}, "plinth:network": {"onPremCidr": "10.100.0.0/16", "onPremLink": "external",
                                                                        "vpn": {"customerGatewayIp": "12.1.2.3"}}},
                 "plinth:network: onPremLink: external means plinth builds no VPN", id="link-contradiction"),
    pytest.param({**HYBRID, "plinth:kubernetes": {}, "plinth:network": {"onPremCidr": ["10.0.0.0/8", "10.1.0.0/16"]}},
                 "plinth:network.onPremCidr: 10.1.0.0/16 overlaps another on-prem block", id="onprem-overlap"),
]
# Mistakes only the program can see (they need the region, the lakehouse zones or a file): exit 2 from
# `pulumi up` / `plinth preview` all the same, one line naming the stack file and the field.
PROGRAM_BAD = [
    pytest.param({**HYBRID, "aws:region": "eu-west-1", "plinth:kubernetes": {}, "plinth:network": {
        "onPremCidr": "10.100.0.0/16", "vpn": {"customerGatewayIp": "12.1.2.3", "bgpAsn": 9059, "staticRoutesOnly": False}}},
                 "plinth:network.vpn.bgpAsn: 9059 is reserved by AWS in eu-west-1", id="asn-reserved-in-region"),
    pytest.param({**HYBRID, "plinth:kubernetes": {"existing": ["namespace/ops"]}},
                 "plinth:kubernetes.existing[0]: plinth makes no namespace/ops", id="existing-unknown"),
    pytest.param({"plinth:strategy": "edge-centric", "plinth:edge": {"devices": [{"name": "cam", "csr": "/nonexistent.csr"}]}},
                 "plinth:edge.devices[0].csr: /nonexistent.csr: CSR not found", id="csr-missing-file"),
    pytest.param({"plinth:strategy": "edge-centric", "plinth:edge": {"devices": [{"name": "cam"}]}},
                 "plinth:edge.devices[0].csr: required", id="csr-or-opt-in"),
    pytest.param({"plinth:strategy": "edge-centric", "plinth:edge": {"devices": [{"name": "cam", "generateKeyPair": True}],
                                                                     "zoneAccess": {"features": "read"}}},
                 "plinth:edge.zoneAccess.features: not a lakehouse zone", id="zone-not-in-lake"),
]


def test_the_good_base_config_loads_and_runs(tmp_path: Path, run_config):
    """Every BAD case is GOOD with one mistake: GOOD itself must pass, or a case could fail for another reason."""
    path = tmp_path / "Pulumi.good.yaml"
    path.write_text(yaml.safe_dump({"config": GOOD}))
    load_stack_file(path)
    assert run_config(GOOD).count("aws:eks/cluster:Cluster") == 1


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
    pools = [{**TRAIN, "minSize": 3, "maxSize": 2, "desiredSize": 3}]
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
    assert hybrid.network.on_prem_cidr == ["10.100.0.0/16"]
    assert hybrid.network.vpn and hybrid.network.vpn.customer_gateway_ip == "12.1.2.3"
    burst = hybrid.gpu_pools[0]
    assert (burst.instance_type, burst.min_size, burst.max_size, burst.capacity_type, burst.interruptible) == (
        "g6e.12xlarge", 0, 4, "SPOT", True)
    edge = load_stack("edge")
    assert edge.profile == "edge_inference" and edge.edge is not None
    assert sorted(d.hardware for d in edge.edge.devices) == ["intel-nuc", "jetson", "raspberry-pi"]
    assert all(d.csr and not d.generate_key_pair for d in edge.edge.devices)  # no private key in state
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


@pytest.mark.parametrize(("config", "field"), PROGRAM_BAD)
def test_bad_config_only_the_program_sees_is_a_one_line_run_error(run_config, config: dict, field: str):
    with pytest.raises(pulumi.RunError) as err:
        run_config(config, stack="bad")
    msg = str(err.value)
    assert "Pulumi.bad.yaml" in msg and field in msg and "\n" not in msg


@pytest.mark.parametrize(("config", "field"), [
    p for p in BAD + PROGRAM_BAD if p.id in ("vpn-test-net", "asn-reserved-in-region", "csr-or-opt-in", "one-zone-eks",
                                             "private-endpoint-deployed-from-outside", "capacity-block-without-reservation")])
def test_plinth_preview_exits_2_naming_the_file_and_the_field(tmp_path: Path, config: dict, field: str):
    """The user's command: `plinth preview --stack FILE` (offline) on the bad stack file."""
    from typer.testing import CliRunner

    from validators.cli import app

    path = tmp_path / "Pulumi.site.yaml"
    path.write_text(yaml.safe_dump({"config": {"plinth:tags": {"owner": "o", "cost-center": "c"}, **config}}))
    result = CliRunner().invoke(app, ["preview", "--stack", str(path)])
    assert result.exit_code == 2, result.output
    assert str(path) in result.output and field in " ".join(result.output.split())
    assert "Traceback" not in result.output
