"""The script streamed to a node for the fabric tests: node_fabric.py with the network tool it
builds on (validators/network/node_net.py), as ONE ``python3 -`` script, nothing installed.

Each source is executed as its own module (``plinth_node_net``, ``plinth_node_fabric``), in that
order, the way Ansible's AnsiballZ gives a module its module_utils: node_fabric.py imports
``plinth_node_net`` first and falls back to ``validators.network.node_net`` when it runs on the
controller (tests). The boot strips ``''`` and ``'.'`` from ``sys.path`` before any import, so a
stray ``json.py`` in the login directory cannot shadow the standard library.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

NODE_NET = Path(__file__).resolve().parents[1] / "network" / "node_net.py"
NODE_FABRIC = Path(__file__).with_name("node_fabric.py")

BOOT = '''\
# plinth fabric tool, assembled from validators/network/node_net.py and validators/fabric/node_fabric.py
import sys

sys.path[:] = [p for p in sys.path if p not in ("", ".")]
import json
import types

SOURCES = json.loads(%s)
for _name in ("plinth_node_net", "plinth_node_fabric"):
    _module = types.ModuleType(_name)
    sys.modules[_name] = _module
    exec(compile(SOURCES[_name], "<plinth>/" + _name, "exec"), _module.__dict__)
sys.exit(sys.modules["plinth_node_fabric"].main(sys.argv))
'''


@lru_cache(maxsize=1)
def node_payload() -> bytes:
    """The script's bytes (same sources, same bytes)."""
    sources = {"plinth_node_net": NODE_NET.read_text(), "plinth_node_fabric": NODE_FABRIC.read_text()}
    return (BOOT % repr(json.dumps(sources, sort_keys=True))).encode()


def node_command(python: str, args: dict) -> tuple[list[str], bytes]:
    """(argv, stdin) running one mode of the node tool with ``args``."""
    return [python, "-", json.dumps(args, separators=(",", ":"))], node_payload()


__all__ = ["node_command", "node_payload"]
