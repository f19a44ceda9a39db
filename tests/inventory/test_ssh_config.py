"""~/.ssh/config honoured (validators/inventory_formats/ssh_config.py): HostName, User, Port,
IdentityFile and ProxyJump fill what the inventory leaves out — the inventory's own fields first,
then the SSH config, then plinth's defaults —; Include is expanded as ssh does; what plinth cannot
honour is refused in one line and never run; and a Host alias reaches a real sshd."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from policies.errors import ConfigError
from tests.support.sshd import SshdHandle
from validators.inventory import Inventory, load_inventory

PLINTH = Path(sys.executable).with_name("plinth")


def _inventory(tmp_path: Path, body: str, config: str | None, ssh_config_line: str | None = "default") -> Inventory:
    cfg = tmp_path / "ssh_config"
    if config is not None:
        cfg.write_text(config)
    head = "" if ssh_config_line is None else f"ssh_config: {cfg}\n" if ssh_config_line == "default" else ssh_config_line
    path = tmp_path / "inventory.yaml"
    path.write_text(head + body)
    return load_inventory(path)


CONFIG = """\
Host gpu-*
    HostName %h.cluster.internal
    User from-ssh-config
    Port 2200
    IdentityFile ~/.ssh/missing_key
    IdentityFile {key}
    ProxyJump bastion

Host bastion
    HostName 203.0.113.7
    User jumper
    Port 2022

Host *
    User from-host-star
"""


def test_the_inventory_wins_then_the_ssh_config_then_plinths_defaults(tmp_path: Path) -> None:
    key = tmp_path / "id_gpu"
    key.write_text("not read here")
    inv = _inventory(tmp_path, """\
nodes:
  - {name: a, host: gpu-a}
  - {name: b, host: gpu-b, user: node-user, port: 22, jump: {host: other-bastion}}
  - {name: c, host: 10.0.0.9}
""", CONFIG.format(key=key))
    a, b, c = inv.nodes
    assert (a.host, a.user, a.port, a.identity_file) == ("gpu-a.cluster.internal", "from-ssh-config", 2200, key)
    # the jump host is itself an alias: resolved through the same config
    assert a.jump is not None and (a.jump.host, a.jump.user, a.jump.port) == ("203.0.113.7", "jumper", 2022)
    assert (b.host, b.user, b.port) == ("gpu-b.cluster.internal", "node-user", 22)  # the node's own fields win
    assert b.jump is not None and b.jump.host == "other-bastion"
    assert (c.host, c.user, c.port, c.jump) == ("10.0.0.9", "from-host-star", 22, None)  # Host * still applies


def test_defaults_outrank_the_ssh_config_and_local_nodes_ignore_it(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, "defaults: {user: fleet-user}\nnodes:\n  - {name: a, host: gpu-a}\n"
                               "  - {name: ws, host: gpu-ws, transport: local}\n",
                     CONFIG.format(key=tmp_path / "none"))
    a, ws = inv.nodes
    assert (a.user, a.port) == ("fleet-user", 2200)
    assert (ws.host, ws.port) == ("gpu-ws", 22)


def test_no_ssh_config_key_reads_home_and_null_turns_it_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host gpu-a\n  HostName 10.1.1.1\n")
    monkeypatch.setenv("HOME", str(home))
    body = "nodes:\n  - {name: a, host: gpu-a}\n"
    assert _inventory(tmp_path, body, None, ssh_config_line=None).nodes[0].host == "10.1.1.1"
    assert _inventory(tmp_path, body, None, ssh_config_line="ssh_config: null\n").nodes[0].host == "gpu-a"


def test_include_is_expanded_relative_to_dot_ssh_and_keeps_the_enclosing_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    conf_d = home / ".ssh" / "config.d"
    conf_d.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    (conf_d / "10-gpu.conf").write_text("Host gpu-a\n  HostName 10.2.2.2\n")
    (conf_d / "20-other.conf").write_text("Host other\n  HostName 10.3.3.3\n")
    config = "Host gpu-a\n  Include config.d/*.conf\n  User written-after-the-include\n"
    inv = _inventory(tmp_path, "nodes:\n  - {name: a, host: gpu-a}\n  - {name: o, host: other}\n", config)
    a, o = inv.nodes
    # "User" follows the Include inside `Host gpu-a`: it stays gpu-a's, not the included `Host other`'s
    assert (a.host, a.user, o.host) == ("10.2.2.2", "written-after-the-include", "10.3.3.3")
    assert o.user != "written-after-the-include"


@pytest.mark.parametrize(("config", "says"), [
    ("Host gpu-a\n  ProxyCommand ssh -W %h:%p bastion\n", "Host gpu-a: ProxyCommand is not supported"),
    ("Host gpu-a\n  ProxyJump one.example.com,two.example.com\n", "Host gpu-a: ProxyJump: ProxyJump 'one.example.com,two.example.com' has several hops"),
    ("Host gpu-a\n  HostName 10.0.0.1;reboot\n", "Host gpu-a: not a host name"),
    ("Host gpu-a\n  Port 99999\n", "SSH config for gpu-a: Port: expected 1-65535"),
])
def test_what_plinth_cannot_honour_is_refused_in_one_line(tmp_path: Path, config: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        _inventory(tmp_path, "nodes:\n  - {name: a, host: gpu-a}\n", config)
    assert str(err.value).startswith(str(tmp_path / "ssh_config")) and says in str(err.value), err.value


def test_match_exec_is_refused_and_its_command_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(ConfigError, match=r"ssh_config:2: SSH config: `Match exec` is not supported"):
        _inventory(tmp_path, "nodes:\n  - {name: a, host: gpu-a}\n", f"Host x\nMatch exec \"touch {marker}\"\n  User y\n")
    assert not marker.exists()


def test_a_missing_ssh_config_named_by_the_inventory_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ssh_config: SSH config not found"):
        _inventory(tmp_path, "nodes:\n  - {name: a, host: gpu-a}\n", None)


@pytest.mark.root
@pytest.mark.parametrize("through_jump", [False, True])
def test_a_host_alias_reaches_the_real_sshd(sshd_server: SshdHandle, tmp_path: Path, through_jump: bool) -> None:
    """HostName, Port, User and IdentityFile come from the SSH config alone (the inventory names only
    the alias and the known_hosts file); with ProxyJump the login goes through the bastion's own
    verified connection (here: the same sshd, which then forwards to itself)."""
    if not PLINTH.exists():
        pytest.skip(f"{PLINTH} not installed (pip install -e .)")
    s = sshd_server
    jump = "    ProxyJump bastion-alias\n" if through_jump else ""
    config = (f"Host gpu-alias\n    HostName {s.host}\n    Port {s.port}\n    User {s.user}\n    IdentityFile {s.client_key_path}\n{jump}"
              f"Host bastion-alias\n    HostName {s.host}\n    Port {s.port}\n    User {s.user}\n    IdentityFile {s.client_key_path}\n")
    (tmp_path / "ssh_config").write_text(config)
    inv = tmp_path / "inventory.yaml"
    inv.write_text(f"ssh_config: {tmp_path / 'ssh_config'}\nprofile: single_gpu\n"
                   f"nodes:\n  - {{name: gpu-a, host: gpu-alias, known_hosts: {s.known_hosts}}}\n")
    accepted = len(re.findall(r"Accepted publickey for " + s.user, s.log))
    out = tmp_path / "r.json"
    proc = subprocess.run([str(PLINTH), "validate", "-i", str(inv), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
                          env={**os.environ, "HOME": str(tmp_path)})
    node = json.loads(out.read_text())["nodes"][0]
    assert (node["host"], node["reachable"]) == (s.host, True), proc.stdout[-2000:] + proc.stderr[-2000:]
    # one login per connection: the node's, and with ProxyJump the bastion's before it
    assert len(re.findall(r"Accepted publickey for " + s.user, s.log)) - accepted == (2 if through_jump else 1)
