"""`plinth init`: a commented example inventory to start from, which `plinth validate -i` accepts
as written (tests/inventory/test_init.py loads it through the same path)."""

from __future__ import annotations

import sys
from pathlib import Path

from stacks.selector import write_stack_file

EXAMPLE = """\
# plinth inventory: the nodes `plinth validate -i THIS_FILE` checks and how to reach them.
# Reference: docs/validators.md, "Inventory". An Ansible inventory (INI or YAML) is accepted too:
#   plinth validate -i hosts.ini
#
# How to log in, first found wins: a node's own field > `defaults:` below > ~/.ssh/config for the
# node's host (HostName, User, Port, IdentityFile, ProxyJump) > plinth's defaults (your user name,
# port 22, ssh-agent then ~/.ssh/id_* keys).

# The workload profile the nodes are judged against (`plinth profiles` lists them; --profile wins).
profile: distributed_training

defaults:
  user: ubuntu                        # Amazon Linux / EKS-optimised AMIs: ec2-user
  # port: 22
  # identity_file: ~/.ssh/id_ed25519  # default: ssh-agent, then ~/.ssh/id_*
  known_hosts: ~/.ssh/known_hosts     # host keys are verified: an unknown key is refused unless
                                      # you pass --accept-new-host-keys (it is then recorded here)
  # python: python3                   # the node's interpreter for the probe (stdlib only, 3.8+)

# A bastion for every node, like `ssh -J` (or per node, or in defaults):
# jump: {host: bastion.example.com, user: ec2-user}

nodes:
  # name: what reports call the node; host: its address, or a Host alias of ~/.ssh/config
  - name: gpu-0
    host: 10.0.1.10
    role: gpu
    expect: {gpus: 8, gpu_model: H100}          # what this node should have
  - name: gpu-1
    host: 10.0.1.11
    role: gpu
    expect: {instance_type: p5.48xlarge}        # the hardware catalogue's row: 8 GPUs, 32 EFA interfaces
  # - {name: gpu-2, host: 10.0.1.12, user: admin, port: 2222}
  # - {name: ws, host: localhost, transport: local}   # this machine, without SSH

# The object store the nodes read training data from (storage checks):
# object_store: {endpoint: https://s3.us-east-1.amazonaws.com, bucket: acme-lake-raw, region: us-east-1}
"""


def run_init(path: str, force: bool) -> int:
    """Write :data:`EXAMPLE` to ``path`` (``-``: stdout). An existing file is kept unless ``force``
    (ConfigError, exit 2); the write is atomic and the file 0644."""
    if path == "-":
        sys.stdout.write(EXAMPLE)
        return 0
    target = Path(path)
    write_stack_file(target, EXAMPLE, force)
    print(f"wrote {target}: edit the nodes, then `plinth validate -i {target}`", file=sys.stderr)
    return 0


__all__ = ["EXAMPLE", "run_init"]
