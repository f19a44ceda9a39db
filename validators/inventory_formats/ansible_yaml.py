"""Ansible's YAML inventory format, parsed as ansible's ``yaml`` inventory plugin does
(ansible/ansible lib/ansible/plugins/inventory/yaml.py): top-level keys are groups; a group has
``hosts`` (host pattern -> variables or nothing), ``vars`` and ``children`` (group name -> group);
a string where a mapping is expected names one entry. Other keys are skipped, as there. The YAML is
walked as a node tree so that every error can name its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from policies.errors import ConfigError
from validators.inventory_formats.ansible import AnsibleInventory, host_pattern

SECTIONS = ("hosts", "vars", "children")


def _at(node: yaml.Node, inv: AnsibleInventory) -> str:
    return inv.where(node.start_mark.line + 1, node.start_mark.column + 1)


def _value(node: yaml.Node, inv: AnsibleInventory, what: str) -> Any:
    try:
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark or node.start_mark
        problem = " ".join(str(exc.problem).split())
        if "!vault" in problem:
            problem = "vault-encrypted values (!vault) are not supported (plinth cannot decrypt them)"
        raise ConfigError(f"{inv.where(mark.line + 1, mark.column + 1)}: {what}: {problem}") from None


def _entries(node: yaml.Node, what: str, inv: AnsibleInventory) -> list[tuple[yaml.Node, yaml.Node | None]]:
    """A section's (key, value) nodes; a scalar string names one entry, null means none."""
    if isinstance(node, yaml.ScalarNode):
        if node.tag == "tag:yaml.org,2002:null":
            return []
        return [(node, None)]
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{_at(node, inv)}: group {what} must be a mapping")
    return list(node.value)


def _is_null(node: yaml.Node | None) -> bool:
    return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null")


def _group(name: str, node: yaml.Node | None, line: int, inv: AnsibleInventory) -> None:
    inv.group(name, line)
    if _is_null(node):
        return
    assert node is not None
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{_at(node, inv)}: group {name}: must be a mapping of hosts, vars and children")
    for key_node, value in node.value:
        section = key_node.value
        if section not in SECTIONS:
            continue
        for k, v in _entries(value, f"{name}: {section}", inv):
            where = _at(k, inv)
            key = str(_value(k, inv, f"group {name}: {section}"))
            if section == "children":
                _group(key, v, k.start_mark.line + 1, inv)
                if key not in inv.groups[name].children:
                    inv.groups[name].children.append(key)
            elif section == "vars":
                inv.groups[name].vars[key] = None if v is None else _value(v, inv, f"group {name}: vars: {key}")
            else:
                variables = {} if _is_null(v) or v is None else _value(v, inv, f"host {key}")
                if not isinstance(variables, dict):
                    raise ConfigError(f"{where}: host {key!r}: its variables must be a mapping")
                names, port = host_pattern(key, where)
                for host in names:
                    inv.add_host(name, host, k.start_mark.line + 1, variables, port)


def looks_like_ansible(data: Any) -> bool:
    """Top-level keys that are all groups (null, or mappings whose keys include hosts, vars or
    children and are nothing else): Ansible's shape, which a plinth inventory never has."""
    if not isinstance(data, dict) or not data or "nodes" in data:
        return False
    shaped = [v is None or (isinstance(v, dict) and set(v) <= set(SECTIONS)) for v in data.values()]
    return all(shaped) and any(isinstance(v, dict) and v for v in data.values())


def parse_yaml(root: yaml.Node, source: Path) -> AnsibleInventory:
    inv = AnsibleInventory(source)
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{source}: (top level): an Ansible YAML inventory is a mapping of groups")
    for key_node, value in root.value:
        _group(str(key_node.value), value, key_node.start_mark.line + 1, inv)
    return inv


__all__ = ["looks_like_ansible", "parse_yaml"]
