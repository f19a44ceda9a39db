"""Ansible's INI inventory format, parsed as ansible's own ``ini`` inventory plugin does
(ansible/ansible lib/ansible/plugins/inventory/ini.py): lines before any section are hosts of
``ungrouped``; ``[group]`` lists hosts (a pattern, then ``key=value`` pairs, shell-quoted, ``#``
comments), ``[group:vars]`` one ``key=value`` per line, ``[group:children]`` group names; ``#`` and
``;`` start comment lines. Values are read as Python literals when they are one (``ast.literal_eval``,
never ``eval``), else kept as strings. A ``[g:vars]`` or ``[g:children]`` naming a group that is
never declared is an error, as in Ansible."""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from pathlib import Path
from typing import Any

from policies.errors import ConfigError
from validators.inventory_formats.ansible import AnsibleInventory, host_pattern

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_IMPLICIT = {"all", "ungrouped"}


def literal(text: str) -> Any:
    """An INI value: a Python literal when it parses as one (numbers, quoted strings, lists, dicts,
    True/False/None), else the text itself."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_ini(text: str, source: Path) -> AnsibleInventory:
    inv = AnsibleInventory(source)
    declared: set[str] = set(_IMPLICIT)
    pending: dict[str, tuple[int, str]] = {}  # group -> (line, "vars"|"children of <parent>")
    group, state = "ungrouped", "hosts"
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = inv.where(n)
        if not line or line[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            group, state = m.group(1), m.group(2) or "hosts"
            if state not in ("hosts", "vars", "children"):
                raise ConfigError(f"{where}: [{group}:{state}]: unknown section type (hosts, vars or children)")
            inv.group(group, n)
            if state == "vars":
                if group not in declared:
                    pending.setdefault(group, (n, "vars"))
            else:
                declared.add(group)
                pending.pop(group, None)
            continue
        if line.startswith("[") and line.endswith("]"):
            raise ConfigError(f"{where}: {line[:60]}: invalid section (no spaces inside the brackets)")
        if state == "hosts":
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError as exc:
                raise ConfigError(f"{where}: host {line.split()[0][:60]}: {exc}") from None
            if not tokens:
                continue  # a line that is all comment after the quotes are read
            if tokens[0] == "---":
                raise ConfigError(f"{where}: host ---: a YAML document start in an INI inventory (a YAML file with another extension?)")
            names, port = host_pattern(tokens[0], where)
            variables: dict[str, Any] = {}
            for token in tokens[1:]:
                key, eq, value = token.partition("=")
                if not eq or not key:
                    raise ConfigError(f"{where}: host {tokens[0][:60]}: expected key=value after the host, got {token[:60]!r}")
                variables[key] = literal(value)
            for name in names:
                inv.add_host(group, name, n, variables, port)
        elif state == "vars":
            key, eq, value = line.partition("=")
            if not eq or not key.strip():
                raise ConfigError(f"{where}: [{group}:vars]: expected key=value, got {line[:60]!r}")
            inv.group(group, n).vars[key.strip()] = literal(value.strip())
        else:
            m = _GROUP_NAME.match(line)
            if not m:
                raise ConfigError(f"{where}: [{group}:children]: expected a group name, got {line[:60]!r}")
            child = m.group(1)
            inv.group(child, n)
            if child not in inv.group(group, n).children:
                inv.group(group, n).children.append(child)
            if child not in declared:
                pending.setdefault(child, (n, f"children of {group}"))
    for name, (n, how) in pending.items():
        if name not in declared:
            what = f"[{name}:vars]" if how == "vars" else f"[{how.removeprefix('children of ')}:children]"
            raise ConfigError(f"{inv.where(n)}: {what}: names group {name!r}, which is never declared")
    return inv


__all__ = ["literal", "parse_ini"]
