"""Inventory formats besides plinth's own YAML: Ansible's INI and YAML inventories (ansible*.py),
and the OpenSSH client config that fills in what an inventory leaves out (ssh_config.py).

:func:`ansible_inventory` tells an Ansible inventory from a plinth one by extension and content,
the way ansible itself tries its yaml plugin and then its ini plugin on a file named ``hosts``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from policies.errors import ConfigError
from validators.inventory_formats.ansible import AnsibleInventory, to_plinth
from validators.inventory_formats.ansible_ini import parse_ini
from validators.inventory_formats.ansible_yaml import looks_like_ansible, parse_yaml

INI_SUFFIXES = {".ini", ".cfg"}
_INI_SECTION = re.compile(r"^\s*\[[^:\]\s]+(?::\w+)?\]\s*(?:[#;].*)?$", re.MULTILINE)


def _composed(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, ValueError, RecursionError):
        return None


def ansible_inventory(path: Path, text: str, data: Any = None, yaml_error: Exception | None = None,
                      ) -> tuple[dict[str, Any], dict[str, int]] | None:
    """(plinth inventory data, each node's line) when ``path`` is an Ansible inventory, else None
    (a plinth inventory). ``data``: the text as YAML; ``yaml_error``: why it could not be read as
    YAML (a ``!vault`` value is well-formed YAML that only Ansible can construct)."""
    if path.suffix.lower() in INI_SUFFIXES:
        return to_plinth(parse_ini(text, path))
    if isinstance(yaml_error, yaml.constructor.ConstructorError):
        root = _composed(text)
        if root is not None and looks_like_ansible(_shape(root)):
            return to_plinth(parse_yaml(root, path))
    if isinstance(data, dict):
        if data.get("plugin"):
            raise ConfigError(f"{path}: an Ansible inventory plugin's configuration (plugin: {str(data['plugin'])[:60]}), "
                              "not an inventory: plinth reads static INI and YAML inventories; export one with "
                              "`ansible-inventory -i THIS --list --yaml`")
        if looks_like_ansible(data):
            inv: AnsibleInventory = parse_yaml(yaml.compose(text, Loader=yaml.SafeLoader), path)
            return to_plinth(inv)
        return None
    if isinstance(data, str) or _INI_SECTION.search(text):  # a list of host lines, or [sections]: INI
        return to_plinth(parse_ini(text, path))
    return None


def _shape(node: yaml.Node) -> Any:
    """The two top levels of a YAML tree as dicts of keys (values beyond them: True), enough for
    :func:`looks_like_ansible` without constructing any value."""
    if not isinstance(node, yaml.MappingNode):
        return None
    out: dict[str, Any] = {}
    for k, v in node.value:
        if isinstance(v, yaml.MappingNode):
            out[str(k.value)] = {str(kk.value): True for kk, _ in v.value}
        else:
            out[str(k.value)] = None if isinstance(v, yaml.ScalarNode) and v.tag.endswith(":null") else v.tag
    return out


__all__ = ["ansible_inventory"]
