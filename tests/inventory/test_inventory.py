"""Inventory YAML: defaults and overrides, ~ expansion, strict host/user, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.errors import ConfigError
from validators.inventory import load_inventory, parse_inventory

EXAMPLE = """
defaults: {user: ubuntu, port: 22, identity_file: ~/.ssh/id_ed25519, known_hosts: ~/.ssh/known_hosts}
profile: distributed_training
jump: {host: bastion.example.com, user: ec2-user}
nodes:
  - {name: gpu-0, host: 10.0.1.10, role: gpu, expect: {gpus: 8, gpu_model: H100, instance_type: p5.48xlarge}}
  - {name: gpu-1, host: 10.0.1.11, user: admin, port: 2222, python: /opt/py/bin/python3}
  - {name: ws, host: localhost, transport: local}
object_store: {endpoint: https://s3.us-east-1.amazonaws.com, bucket: acme-lake-raw, region: us-east-1}
"""


def test_defaults_overrides_and_home_expansion(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(EXAMPLE)
    inv = load_inventory(path)
    a, b, ws = inv.nodes
    home = Path.home()
    assert (a.user, a.port, a.identity_file, a.known_hosts) == ("ubuntu", 22, home / ".ssh/id_ed25519", home / ".ssh/known_hosts")
    assert (b.user, b.port, b.python) == ("admin", 2222, "/opt/py/bin/python3")
    assert a.expect.gpus == 8 and a.expect.instance_type == "p5.48xlarge"
    assert a.jump is not None and a.jump.host == "bastion.example.com"
    assert ws.transport == "local" and a.transport == "ssh"
    assert inv.profile == "distributed_training"
    assert inv.object_store is not None and inv.object_store.bucket == "acme-lake-raw"


@pytest.mark.parametrize(("node", "field"), [
    ({"name": "a", "host": "10.0.0.1 && reboot"}, "nodes[1].host"),
    ({"name": "a", "host": "$(id)"}, "nodes[1].host"),
    ({"name": "a", "host": "-oProxyCommand=x"}, "nodes[1].host"),
    ({"name": "a", "host": "h", "user": "root;id"}, "nodes[1].user"),
    ({"name": "a b", "host": "h"}, "nodes[1].name"),
    ({"name": "a", "host": "h", "port": 70000}, "nodes[1].port"),
    ({"name": "a", "host": "h", "python": "python3 -c 'x'"}, "nodes[1].python"),
    ({"name": "a", "host": "h", "transport": "telnet"}, "nodes[1].transport"),
    ({"name": "a"}, "nodes[1]: required key 'host' is missing"),
])
def test_bad_node_fields_name_the_field(node: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_inventory({"nodes": [{"name": "ok", "host": "10.0.0.9"}, node]}, "inventory.yaml")
    assert str(info.value).startswith(f"inventory.yaml: {field}")
    assert "\n" not in str(info.value)


def test_ipv6_and_dns_names_are_hosts() -> None:
    inv = parse_inventory({"nodes": [{"name": "a", "host": "fe80::1%eth0"}, {"name": "b", "host": "gpu-1.internal"}]}, "i.yaml")
    assert [n.host for n in inv.nodes] == ["fe80::1%eth0", "gpu-1.internal"]


def test_top_level_must_be_a_mapping_and_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^i.yaml: \(top level\)"):
        parse_inventory(["nodes"], "i.yaml")
    with pytest.raises(ConfigError, match=r"missing.yaml: inventory not found$"):
        load_inventory(tmp_path / "missing.yaml")


def test_object_store_endpoint_must_be_a_url() -> None:
    with pytest.raises(ConfigError, match=r"object_store.endpoint"):
        parse_inventory({"nodes": [{"name": "a", "host": "h"}], "object_store": {"endpoint": "s3.local", "bucket": "abc"}}, "i.yaml")
