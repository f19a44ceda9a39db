"""Ansible inventories as plinth inventories (validators/inventory_formats): the INI and YAML
examples of Ansible's own documentation ("How to build your inventory",
docs.ansible.com/ansible/latest/inventory_guide/intro_inventory.html) read as Ansible reads them —
groups, children, ranges, host:port, host and group variables and their precedence, group_vars/ and
host_vars/ beside the file — the connection variables mapped onto plinth's node fields, what plinth
cannot honour refused with one line naming the file and line, and a real login through an INI
inventory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from policies.errors import ConfigError
from tests.support.sshd import SshdHandle
from validators.inventory import Inventory, NodeSpec, load_inventory

PLINTH = Path(sys.executable).with_name("plinth")

# intro_inventory.html, "Inventory basics: formats, hosts, and groups"
DOCS_INI = """\
mail.example.com

[webservers]
foo.example.com
bar.example.com

[dbservers]
one.example.com
two.example.com
three.example.com
"""
DOCS_YAML = """\
ungrouped:
  hosts:
    mail.example.com:
webservers:
  hosts:
    foo.example.com:
    bar.example.com:
dbservers:
  hosts:
    one.example.com:
    two.example.com:
    three.example.com:
"""
# "Organizing inventory in a directory" / "Inheriting variable values": groups of groups, vars
DOCS_CHILDREN_INI = """\
[atlanta]
host1 http_port=80 maxRequestsPerChild=808
host2 http_port=303 maxRequestsPerChild=909

[raleigh]
host2
host3

[southeast:children]
atlanta
raleigh

[southeast:vars]
some_server=foo.southeast.example.com
halon_system_timeout=30
ansible_user=southeast-admin

[atlanta:vars]
ansible_user=atlanta-admin

[all:vars]
ansible_user=ubuntu
ansible_port=2222
"""
DOCS_CHILDREN_YAML = """\
all:
  vars:
    ansible_user: ubuntu
    ansible_port: 2222
  children:
    southeast:
      vars:
        some_server: foo.southeast.example.com
        halon_system_timeout: 30
        ansible_user: southeast-admin
      children:
        atlanta:
          vars:
            ansible_user: atlanta-admin
          hosts:
            host1:
              http_port: 80
              maxRequestsPerChild: 808
            host2:
              http_port: 303
              maxRequestsPerChild: 909
        raleigh:
          hosts:
            host2:
            host3:
"""


def _load(tmp_path: Path, name: str, text: str) -> Inventory:
    path = tmp_path / name
    path.write_text(text)
    return load_inventory(path)


def _by_name(inv: Inventory) -> dict[str, NodeSpec]:
    return {n.name: n for n in inv.nodes}


@pytest.mark.parametrize(("name", "text"), [("hosts", DOCS_INI), ("hosts.ini", DOCS_INI), ("inventory.yml", DOCS_YAML),
                                            ("hosts.yaml", DOCS_YAML)])
def test_the_docs_basic_inventory_in_both_formats_gives_every_host(tmp_path: Path, name: str, text: str) -> None:
    inv = _load(tmp_path, name, text)
    assert [n.name for n in inv.nodes] == ["mail.example.com", "foo.example.com", "bar.example.com", "one.example.com",
                                           "two.example.com", "three.example.com"]
    assert all(n.host == n.name and n.port == 22 and n.transport == "ssh" for n in inv.nodes)


@pytest.mark.parametrize(("name", "text"), [("hosts", DOCS_CHILDREN_INI), ("hosts.yml", DOCS_CHILDREN_YAML)])
def test_child_group_vars_beat_parent_group_vars_which_beat_all(tmp_path: Path, name: str, text: str) -> None:
    nodes = _by_name(_load(tmp_path, name, text))
    # host2 is in atlanta (depth 2) and raleigh (depth 2): atlanta's vars; host3 only raleigh -> southeast's
    assert {n: (s.user, s.port) for n, s in nodes.items()} == {
        "host1": ("atlanta-admin", 2222), "host2": ("atlanta-admin", 2222), "host3": ("southeast-admin", 2222)}


def test_ranges_ports_aliases_and_connection_variables(tmp_path: Path) -> None:
    key = tmp_path / "aws.pem"
    inv = _load(tmp_path, "hosts", f"""\
[webservers]
www[01:50:2].example.com
db-[a:c].example.com
badwolf.example.com:5309

[targets]
localhost              ansible_connection=local ansible_python_interpreter=/usr/bin/python3
other1.example.com     ansible_connection=ssh   ansible_user=myuser
jumper ansible_port=5555 ansible_host=192.0.2.50 ansible_ssh_private_key_file={key}
behind ansible_ssh_common_args='-o ProxyJump=ec2-user@bastion.example.com:2222 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/etc/plinth/known_hosts'
auto ansible_python_interpreter=auto_silent
""")
    nodes = _by_name(inv)
    www = [n for n in nodes if n.startswith("www")]
    assert www[:3] == ["www01.example.com", "www03.example.com", "www05.example.com"] and len(www) == 25
    assert [n for n in nodes if n.startswith("db-")] == ["db-a.example.com", "db-b.example.com", "db-c.example.com"]
    assert nodes["badwolf.example.com"].port == 5309
    assert nodes["localhost"].transport == "local" and nodes["localhost"].python == "/usr/bin/python3"
    assert nodes["other1.example.com"].user == "myuser"
    j = nodes["jumper"]
    assert (j.host, j.port, j.identity_file) == ("192.0.2.50", 5555, key)
    b = nodes["behind"]
    assert b.jump is not None and (b.jump.host, b.jump.port, b.jump.user) == ("bastion.example.com", 2222, "ec2-user")
    assert b.known_hosts == Path("/etc/plinth/known_hosts")
    assert nodes["auto"].python == "python3"  # "auto": the node's python3


def test_group_vars_and_host_vars_folders_beside_the_inventory_in_ansibles_order(tmp_path: Path) -> None:
    (tmp_path / "group_vars" / "gpu").mkdir(parents=True)
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("ansible_user: from-group-vars-all\nplinth_profile: real_time_inference\n")
    (tmp_path / "group_vars" / "gpu" / "10-connection.yml").write_text("ansible_port: 2201\n")
    (tmp_path / "group_vars" / "gpu" / "20-override.yaml").write_text("ansible_port: 2202\nplinth_expect: {gpus: 8, gpu_model: H100}\n")
    (tmp_path / "host_vars" / "gpu-2.yml").write_text("ansible_user: from-host-vars\n")
    inv = _load(tmp_path, "hosts.ini", """\
[gpu]
gpu-1 plinth_role=trainer
gpu-2 ansible_user=from-inline-host

[gpu:vars]
ansible_user=from-inline-group
""")
    nodes = _by_name(inv)
    # group_vars/all.yml outranks the file's [gpu:vars] (Ansible's precedence 4 over 3)
    assert nodes["gpu-1"].user == "from-group-vars-all"
    assert nodes["gpu-2"].user == "from-host-vars"  # host_vars/ outranks everything of the inventory
    assert nodes["gpu-1"].port == 2202  # a group's folder: files in lexical order, the later wins
    assert nodes["gpu-1"].expect.gpus == 8 and nodes["gpu-1"].role == "trainer"
    assert inv.profile == "real_time_inference"


def test_group_priority_orders_groups_of_the_same_depth(tmp_path: Path) -> None:
    text = "[a]\nh\n[b]\nh\n[a:vars]\nansible_user=from-a\n[b:vars]\nansible_user=from-b\n"
    assert _by_name(_load(tmp_path, "hosts", text))["h"].user == "from-b"  # same depth: by name, b last
    prio = text + "ansible_group_priority=0\n"  # b's priority below a's (default 1): a wins
    assert _by_name(_load(tmp_path, "hosts2", prio))["h"].user == "from-a"


@pytest.mark.parametrize(("name", "text", "where", "says"), [
    ("hosts", "[web]\nh1 ansible_password=secret\n", ":2:1: host h1: ansible_password", "password authentication is not supported"),
    ("hosts", "[win]\nw1 ansible_connection=winrm\n", ":2:1: host w1: ansible_connection=winrm", "not supported"),
    ("hosts", "[web]\nh1 ansible_host='{{ lookup(\"env\", \"IP\") }}'\n", ":2:1: host h1: ansible_host", "Jinja2 templates are not supported"),
    ("hosts", "[web]\nh1 ansible_ssh_common_args='-o ProxyCommand=\"ssh -W %h:%p bastion\"'\n", ":2:1: host h1: ansible_ssh_common_args",
     "ssh option ProxyCommand is not supported"),
    ("hosts", "[web]\nh1 ansible_ssh_common_args='-J a.example.com,b.example.com'\n", ":2:1: host h1: ansible_ssh_common_args",
     "several hops"),
    ("hosts", "[usa:children]\nsoutheast\nnortheast\n[southeast]\nh1\n", ":3:1: [usa:children]", "'northeast', which is never declared"),
    ("hosts", "[web:vars]\nx=1\n", ":1:1: [web:vars]", "never declared"),
    ("hosts", "[web:hostz]\nh1\n", ":1:1: [web:hostz]", "unknown section type"),
    ("hosts", "[web]\nwww[001:10].example.com\n", ":2:1: host www[001:10].example.com", "equal-length begin and end"),
    ("hosts", "[web]\nwww[10:1].example.com\n", ":2:1: host www[10:1].example.com", "begin <= end"),
    ("hosts", "[web]\nh1:\n", ":2:1: host h1:", "ends in ':'"),
    ("hosts", "[web]\n2001:db8::1\n", ":2:1: host 2001:db8::1", "name"),  # plinth's node names have no ':' (alias it)
    ("hosts.yml", "all:\n  hosts:\n    h1:\n      ansible_user: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6162\n",
     ":4:", "vault-encrypted values (!vault) are not supported"),
    ("hosts.yml", "plugin: amazon.aws.aws_ec2\nregions: [us-east-1]\n", ": an Ansible inventory plugin's configuration", "not an inventory"),
    ("hosts.yml", "web:\n  hosts: [h1, h2]\n", ":2:", "must be a mapping"),
])
def test_what_plinth_cannot_honour_is_one_line_naming_file_and_line(tmp_path: Path, name: str, text: str, where: str,
                                                                   says: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_inventory(path)
    message = str(err.value)
    assert message.startswith(f"{path}{where}") and says in message and "\n" not in message, message


def test_a_vault_encrypted_group_vars_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n6162636465\n")
    with pytest.raises(ConfigError, match=r"group_vars/all.yml: vault-encrypted files are not supported"):
        _load(tmp_path, "hosts", "h1\n")


def test_plinth_inventories_are_not_mistaken_for_ansible_ones(tmp_path: Path) -> None:
    inv = _load(tmp_path, "inv.yaml", "nodes:\n  - {name: a, host: 10.0.0.1}\n")
    assert [n.name for n in inv.nodes] == ["a"]
    with pytest.raises(ConfigError, match=r"inv2.yaml:2:5: nodes\[0\]: required key 'host' is missing"):
        _load(tmp_path, "inv2.yaml", "nodes:\n  - {name: a}\n")
    with pytest.raises(ConfigError, match=r"inv3.yaml:\d+:\d+: not valid YAML: "):
        _load(tmp_path, "inv3.yaml", "nodes:\n  - {name: a, host: [\n")  # broken YAML stays a YAML error


@pytest.mark.root
def test_validate_logs_in_through_an_ini_inventory(sshd_server: SshdHandle, tmp_path: Path) -> None:
    if not PLINTH.exists():
        pytest.skip(f"{PLINTH} not installed (pip install -e .)")
    s = sshd_server
    hosts = tmp_path / "hosts"
    hosts.write_text(f"""\
[gpu]
gpu-a ansible_host={s.host} ansible_port={s.port}

[gpu:vars]
ansible_user={s.user}
ansible_ssh_private_key_file={s.client_key_path}
ansible_ssh_common_args='-o UserKnownHostsFile={s.known_hosts} -o ServerAliveInterval=30'
ansible_python_interpreter=/usr/bin/python3

[all:vars]
plinth_profile=single_gpu
""")
    out = tmp_path / "r.json"
    proc = subprocess.run([str(PLINTH), "validate", "-i", str(hosts), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
                          env={**os.environ, "HOME": str(tmp_path)})
    report = json.loads(out.read_text())
    assert report["profile"] == "single_gpu", proc.stderr[-2000:]
    node = report["nodes"][0]
    assert (node["name"], node["host"], node["reachable"]) == ("gpu-a", s.host, True), proc.stdout[-2000:] + proc.stderr[-2000:]
    assert any(c["id"] == "system.cpu_cores" and c["status"] != "error" for c in node["checks"])
