"""An Ansible inventory (INI or YAML, parsed by ansible_ini / ansible_yaml) as plinth's nodes, with
no Ansible installed: the documented formats, the documented variable precedence, the connection
variables mapped onto a node's fields.

Precedence (Ansible's "Understanding variable precedence", inventory part, lowest first): the
inventory file's group vars (``all`` first, then by group depth, ``ansible_group_priority``, name),
``group_vars/all``, ``group_vars/<group>``, the file's host vars, ``host_vars/<host>`` — the two
folders read beside the inventory file, as ansible does.

Mapped: ``ansible_host`` → host, ``ansible_port`` (or the ``host:port`` pattern) → port,
``ansible_user`` → user, ``ansible_ssh_private_key_file`` → identity_file,
``ansible_python_interpreter`` → python, ``ansible_connection`` ssh/paramiko/smart → ssh, local →
local, ``-J``/``-o ProxyJump=`` in ``ansible_ssh_common_args``/``ansible_ssh_extra_args`` → jump
and ``-o UserKnownHostsFile=`` there → known_hosts (plus the ``ansible_ssh_*`` spellings of old). plinth's own: ``plinth_role``, ``plinth_expect``
(a mapping: gpus, gpu_model, instance_type) and, in ``all``'s vars, ``plinth_profile``.
Every other variable is left alone: a playbook's variables are no concern of plinth.

Refused with one line naming the file and line: password authentication, connection plugins other
than ssh and local, Jinja2 templates and vault-encrypted values in connection variables, ssh
options plinth cannot honour (ProxyCommand, a different port or user), multi-hop ProxyJump.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policies.errors import ConfigError
from validators.inventory_formats.files import read_text
from validators.inventory_formats.ssh_config import parse_jump

VAULT = "$ANSIBLE_VAULT"


@dataclass
class Group:
    name: str
    line: int
    vars: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    members: set[str] = field(default_factory=set)  # the same names, for membership tests


@dataclass
class Host:
    name: str
    line: int
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class AnsibleInventory:
    source: Path
    groups: dict[str, Group] = field(default_factory=dict)
    hosts: dict[str, Host] = field(default_factory=dict)  # first appearance order

    def group(self, name: str, line: int) -> Group:
        return self.groups.setdefault(name, Group(name, line))

    def add_host(self, group: str, name: str, line: int, variables: dict[str, Any], port: int | None) -> None:
        host = self.hosts.setdefault(name, Host(name, line))
        host.vars.update(variables)
        if port is not None:
            host.vars["ansible_port"] = port
        g = self.group(group, line)
        if name not in g.members:
            g.members.add(name)
            g.hosts.append(name)

    def where(self, line: int, column: int = 1) -> str:
        """``file:line:column``, the form editors and CI annotations jump to."""
        return f"{self.source}:{line}:{column}"


# ---------------------------------------------------------------- host patterns (both formats)

def _expand_range(pattern: str, where: str) -> list[str]:
    """``www[01:50].example.com``, ``db-[a:f]``, ``n[1:10:2]``: Ansible's host ranges (numeric with
    the begin's zero padding, or single letters; an optional step), several per pattern."""
    head, sep, rest = pattern.partition("[")
    if not sep:
        return [pattern]
    body, close, tail = rest.partition("]")
    if not close:
        raise ConfigError(f"{where}: host range has no closing ']'")
    bounds = body.split(":")
    if len(bounds) not in (2, 3) or not bounds[1]:
        raise ConfigError(f"{where}: range [{body}] must be begin:end or begin:end:step")
    beg, end = bounds[0] or "0", bounds[1]
    try:
        step = int(bounds[2]) if len(bounds) == 3 else 1
    except ValueError:
        raise ConfigError(f"{where}: range [{body}]: the step is not a number") from None
    if step < 1:
        raise ConfigError(f"{where}: range [{body}]: the step must be at least 1")
    if beg.isalpha() and end.isalpha() and len(beg) == len(end) == 1:
        if beg > end:
            raise ConfigError(f"{where}: range [{body}] must have begin <= end")
        values = [chr(c) for c in range(ord(beg), ord(end) + 1, step)]
    elif beg.isdigit() and end.isdigit():
        width = len(beg) if beg.startswith("0") and len(beg) > 1 else 0
        if width and len(end) != width:
            raise ConfigError(f"{where}: range [{body}] must have equal-length begin and end")
        if int(beg) > int(end):  # ansible expands it to no host at all; a typo, said as one
            raise ConfigError(f"{where}: range [{body}] must have begin <= end")
        if int(end) - int(beg) > 100_000:
            raise ConfigError(f"{where}: range [{body}] expands to more than 100,000 hosts")
        values = [str(i).zfill(width) for i in range(int(beg), int(end) + 1, step)]
    else:
        raise ConfigError(f"{where}: range [{body}] must be numbers or single letters")
    return [h for v in values for h in _expand_range(head + v + tail, where)]


def host_pattern(pattern: str, where: str) -> tuple[list[str], int | None]:
    """A host pattern's hosts and the port written after it (``host:2222``, ``[2001:db8::1]:22``)."""
    where = f"{where}: host {pattern}"
    port: int | None = None
    if pattern.endswith(":"):
        raise ConfigError(f"{where}: ends in ':' (write host:port)")
    if pattern.startswith("[") and "]:" in pattern and pattern.rpartition("]:")[2].isdigit():
        pattern, _, p = pattern[1:].rpartition("]:")
        port = int(p)
    else:
        outside = "".join(part.partition("]")[2] if i else part for i, part in enumerate(pattern.split("[")))
        if outside.count(":") == 1 and pattern.rpartition(":")[2].isdigit():  # one colon: host:port (more: IPv6)
            pattern, _, p = pattern.rpartition(":")
            port = int(p)
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(f"{where}: port {port} out of range")
    return _expand_range(pattern, where), port


# ---------------------------------------------------------------- group_vars/ and host_vars/

def _vars_files(folder: Path, name: str) -> list[Path]:
    """Ansible's files for one group or host: ``<name>``, ``<name>.yml|.yaml|.json``, or every file
    of the folder ``<name>/`` (lexical order)."""
    out = [folder / (name + ext) for ext in ("", ".yml", ".yaml", ".json") if (folder / (name + ext)).is_file()]
    if (folder / name).is_dir():
        out += sorted(p for p in (folder / name).rglob("*") if p.is_file() and not p.name.startswith("."))
    return out


def _load_vars(path: Path) -> dict[str, Any]:
    text = read_text(path, "Ansible variables file")
    if text.lstrip().startswith(VAULT):
        raise ConfigError(f"{path}: vault-encrypted files are not supported (plinth cannot decrypt them); "
                          "keep connection variables outside the vault")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        if "!vault" in problem:
            problem = "vault-encrypted values (!vault) are not supported"
        raise ConfigError(f"{path}{line}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of variables")
    return data


def folder_vars(source: Path, kind: str, name: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    folder = source.parent / kind
    if not folder.is_dir():
        return merged
    for path in _vars_files(folder, name):
        merged.update(_load_vars(path))
    return merged


# ---------------------------------------------------------------- groups and precedence

def _depths(inv: AnsibleInventory) -> dict[str, int]:
    """Each group's depth below ``all`` (a group without a parent is a child of ``all``)."""
    parents: dict[str, list[str]] = {g: [] for g in inv.groups}
    for g in inv.groups.values():
        for child in g.children:
            parents.setdefault(child, []).append(g.name)
    depth: dict[str, int] = {"all": 0}

    def of(name: str, path: tuple[str, ...]) -> int:
        if name in depth:
            return depth[name]
        if name in path:
            raise ConfigError(f"{inv.where(inv.groups[name].line)}: group {name!r} is its own ancestor")
        ups = [p for p in parents.get(name, []) if p != name] or ["all"]
        depth[name] = 1 + max(of(p, (*path, name)) for p in ups)
        return depth[name]

    for name in inv.groups:
        of(name, ())
    return depth


def host_vars(inv: AnsibleInventory, depth: dict[str, int], group_folder: dict[str, dict[str, Any]], name: str,
              direct: set[str]) -> dict[str, Any]:
    """One host's variables, merged in Ansible's order (lowest precedence first); ``group_folder``:
    each group's ``group_vars/`` variables, read once; ``direct``: the groups that list the host."""
    groups = set(direct) | {"all"}
    changed = True
    while changed:  # every ancestor of a group the host is in
        changed = False
        for g in inv.groups.values():
            if g.name not in groups and set(g.children) & groups:
                groups.add(g.name)
                changed = True

    def order(g: str) -> tuple[int, int, str]:
        prio = inv.groups[g].vars.get("ansible_group_priority", 1) if g in inv.groups else 1
        return (depth.get(g, 0), prio if isinstance(prio, int) else 1, g)

    ranked = sorted(groups, key=order)
    merged: dict[str, Any] = {}
    for g in ranked:
        merged.update(inv.groups[g].vars if g in inv.groups else {})
    for g in ranked:
        merged.update(group_folder.get(g, {}))
    merged.update(inv.hosts[name].vars)
    merged.update(folder_vars(inv.source, "host_vars", name))
    return merged


# ---------------------------------------------------------------- variables -> node fields

_SSH_CONNECTIONS = {"ssh", "paramiko", "paramiko_ssh", "smart", "ansible.builtin.ssh", "ansible.builtin.paramiko_ssh"}
_LOCAL_CONNECTIONS = {"local", "ansible.builtin.local"}
_PASSWORDS = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")
# ssh options that change nothing about where and as whom plinth connects: tuning, multiplexing,
# and host-key relaxations that plinth never applies (it always verifies host keys)
_HARMLESS_OPTIONS = {"stricthostkeychecking", "userknownhostsfile", "serveraliveinterval", "serveralivecountmax",
                     "controlmaster", "controlpersist", "controlpath", "connecttimeout", "connectionattempts",
                     "forwardagent", "compression", "loglevel", "identitiesonly", "tcpkeepalive", "addkeystoagent",
                     "pubkeyacceptedkeytypes", "pubkeyacceptedalgorithms", "hostkeyalgorithms", "gssapiauthentication"}


def _first(v: dict[str, Any], *names: str) -> Any:
    return next((v[n] for n in names if v.get(n) is not None), None)


def _scalar(value: Any, var: str, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConfigError(f"{where}: {var}: expected a string, got {value!r:.60}")
    text = str(value)
    if "{{" in text or "{%" in text:
        raise ConfigError(f"{where}: {var}: Jinja2 templates are not supported (plinth does not evaluate them): {text!r:.80}")
    return text


def _from_ssh_args(args: str, var: str, where: str) -> dict[str, Any]:
    """What plinth takes from ssh's command-line options: the jump host (``-J``, ``-o ProxyJump``)
    and the known_hosts file (``-o UserKnownHostsFile``; /dev/null is ignored: plinth always checks
    host keys). Options that change nothing about where and as whom plinth connects are ignored;
    any other is refused rather than silently dropped."""
    try:
        tokens = shlex.split(args)
    except ValueError as exc:
        raise ConfigError(f"{where}: {var}: {exc}") from None
    found: dict[str, Any] = {}
    jump: dict[str, Any] | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "-J" or tok.startswith("-J"):
            spec = tok[2:] or (tokens[i + 1] if i + 1 < len(tokens) else "")
            i += 1 if tok[2:] else 2
            jump = parse_jump(spec, f"{where}: {var}")
            continue
        if tok == "-o" or tok.startswith("-o"):
            option = tok[2:] or (tokens[i + 1] if i + 1 < len(tokens) else "")
            i += 1 if tok[2:] else 2
            key, _, value = option.replace("=", " ", 1).partition(" ")
            if key.lower() == "proxyjump":
                jump = parse_jump(value, f"{where}: {var}")
            elif key.lower() == "userknownhostsfile" and value.strip() not in ("", "/dev/null"):
                found["known_hosts"] = value.split()[0]  # ssh reads the first file for new keys too
            elif key.lower() not in _HARMLESS_OPTIONS:
                raise ConfigError(f"{where}: {var}: ssh option {key} is not supported (plinth honours ProxyJump / -J; "
                                  "its own inventory fields cover user, port and key)")
            continue
        raise ConfigError(f"{where}: {var}: {tok!r} is not supported (plinth honours -J and -o ProxyJump=…)")
    if jump is not None:
        found["jump"] = jump
    return found


def node_fields(name: str, v: dict[str, Any], where: str) -> dict[str, Any]:
    """A plinth inventory node (the dict ``nodes:`` entries are) from a host's merged variables.
    ``where``: ``file:line:column: host <name>``, the start of every error."""
    for var in _PASSWORDS:
        if v.get(var) is not None:
            raise ConfigError(f"{where}: {var}: password authentication is not supported "
                              "(plinth logs in with keys: ssh-agent or ansible_ssh_private_key_file)")
    node: dict[str, Any] = {"name": name, "host": name}
    connection = _first(v, "ansible_connection")
    if connection is not None:
        kind = _scalar(connection, "ansible_connection", where)
        if kind in _LOCAL_CONNECTIONS:
            node["transport"] = "local"
        elif kind not in _SSH_CONNECTIONS:
            raise ConfigError(f"{where}: ansible_connection={kind} is not supported (plinth reaches nodes over ssh, or local)")
    mapping = {"host": ("ansible_host", "ansible_ssh_host"), "user": ("ansible_user", "ansible_ssh_user"),
               "identity_file": ("ansible_ssh_private_key_file", "ansible_private_key_file"),
               "python": ("ansible_python_interpreter",)}
    for key, names in mapping.items():
        value = _first(v, *names)
        if value is not None:
            node[key] = _scalar(value, names[0], where)
    if str(node.get("python", "")).startswith("auto"):  # auto, auto_silent, auto_legacy: the node's python3
        node.pop("python")
    port = _first(v, "ansible_port", "ansible_ssh_port")
    if port is not None:
        text = _scalar(port, "ansible_port", where)
        if not text.isdigit():
            raise ConfigError(f"{where}: ansible_port: expected a number, got {text!r:.40}")
        node["port"] = int(text)
    for var in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        if v.get(var):
            node.update(_from_ssh_args(_scalar(v[var], var, where), var, where))
    if v.get("plinth_role") is not None:
        node["role"] = _scalar(v["plinth_role"], "plinth_role", where)
    if v.get("plinth_expect") is not None:
        node["expect"] = v["plinth_expect"]
    return node


def to_plinth(inv: AnsibleInventory) -> tuple[dict[str, Any], dict[str, int]]:
    """plinth inventory data (``profile``, ``nodes``) for every host, and each node's line in the
    file (for errors that come later, from the node schema)."""
    if not inv.hosts:
        raise ConfigError(f"{inv.source}: (top level): the Ansible inventory has no hosts")
    depth = _depths(inv)
    group_folder = {g: folder_vars(inv.source, "group_vars", g) for g in {*inv.groups, "all"}}
    member_of: dict[str, set[str]] = {}
    for g in inv.groups.values():
        for h in g.hosts:
            member_of.setdefault(h, set()).add(g.name)
    nodes, lines = [], {}
    for name, host in inv.hosts.items():
        merged = host_vars(inv, depth, group_folder, name, member_of.get(name, set()))
        nodes.append(node_fields(name, merged, f"{inv.where(host.line)}: host {name}"))
        lines[name] = host.line
    top = {**(inv.groups["all"].vars if "all" in inv.groups else {}), **group_folder["all"]}
    data: dict[str, Any] = {"nodes": nodes}
    if top.get("plinth_profile") is not None:
        data["profile"] = _scalar(top["plinth_profile"], "plinth_profile", f"{inv.source}: group all")
    return data, lines


__all__ = ["AnsibleInventory", "Group", "Host", "host_pattern", "host_vars", "node_fields", "to_plinth"]
