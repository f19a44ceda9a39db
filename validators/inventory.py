"""Inventory: which nodes to validate and how to reach them (ARCHITECTURE.md §3).

```yaml
defaults: {user: ubuntu, port: 22, identity_file: ~/.ssh/id_ed25519, known_hosts: ~/.ssh/known_hosts}
profile: distributed_training
jump: {host: bastion.example.com, user: ec2-user}        # optional, for every node (or per node)
nodes:
  - {name: gpu-0, host: 10.0.1.10, role: gpu, expect: {gpus: 8, gpu_model: H100, instance_type: p5.48xlarge}}
  - {name: gpu-1, host: 10.0.1.11, user: admin, port: 2222}
object_store: {endpoint: https://s3.us-east-1.amazonaws.com, bucket: acme-lake-raw, region: us-east-1}
```

Every node-level field may be set in ``defaults`` and overridden per node. ``~`` is expanded in
paths. Host names and users are checked strictly (no whitespace, no shell characters, no leading
``-``): they end up in SSH connections and known_hosts lines. Errors are one line naming the file
and the field, e.g. ``inventory.yaml: nodes[1].host: ...``.
"""

from __future__ import annotations

import getpass
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from policies.errors import ConfigError, first_error
from policies.inputs import YamlError, load_yaml, read_input_text, schema_error
from validators.inventory_formats import INI_SUFFIXES, ansible_inventory, ssh_config
from validators.inventory_formats.ssh_config import SshConfigFile

TransportName = Literal["ssh", "local"]
_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._:%-]*$")  # DNS name, IPv4, IPv6 (with zone id)
_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def _check_host(v: str) -> str:
    if not _HOST.match(v) or len(v) > 253:
        raise ValueError("not a host name or IP address (letters, digits, '.', '-', ':' only; no spaces or shell characters)")
    return v


def _check_user(v: str | None) -> str | None:
    if v is not None and not _USER.match(v):
        raise ValueError("not a user name (letters, digits, '.', '_', '-'; no spaces or shell characters)")
    return v


def _expand(v: Path | None) -> Path | None:
    return None if v is None else v.expanduser()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JumpHost(_Model):
    """A bastion the SSH connection goes through (a direct-tcpip channel, like ``ssh -J``)."""

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str | None = None  # default: the node's user
    identity_file: Path | None = None  # default: the node's
    known_hosts: Path | None = None  # default: the node's

    _host = field_validator("host")(classmethod(lambda cls, v: _check_host(v)))
    _user = field_validator("user")(classmethod(lambda cls, v: _check_user(v)))
    _paths = field_validator("identity_file", "known_hosts")(classmethod(lambda cls, v: _expand(v)))


class Expect(_Model):
    """What this node should have; judges compare facts with it (and with the catalogue row of
    ``instance_type``)."""

    gpus: int | None = Field(default=None, ge=0)
    gpu_model: str | None = None
    instance_type: str | None = None
    # in an EC2 cluster placement group: one TCP flow then reaches 10 Gbps instead of 5 (network.bandwidth)
    placement_group: bool | None = None
    fabric: str | None = None  # the node's RDMA fabric, a name in policies/data/rdma.yaml (ib_ndr400, roce400 …)
    rdma_ports: int | None = Field(default=None, ge=0)  # how many ports of that fabric it has

    @field_validator("fabric")
    @classmethod
    def _fabric(cls, v: str | None) -> str | None:
        from policies.catalogue import rdma_catalogue

        known = rdma_catalogue().fabrics
        if v is not None and v not in known:
            raise ValueError(f"unknown fabric {v!r} (known: {', '.join(sorted(known))})")
        return v


class ObjectStore(_Model):
    endpoint: str | None = None  # None: AWS's regional endpoint
    bucket: str = Field(min_length=3, max_length=63)
    region: str | None = None

    @field_validator("endpoint")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an http:// or https:// URL")
        return v


class _NodeFields(_Model):
    """Fields a node may take from ``defaults`` or set itself."""

    user: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    identity_file: Path | None = None
    known_hosts: Path | None = None
    transport: TransportName | None = None
    python: str | None = None  # interpreter on the node that runs the probe (default python3)
    jump: JumpHost | None = None

    _user = field_validator("user")(classmethod(lambda cls, v: _check_user(v)))
    _paths = field_validator("identity_file", "known_hosts")(classmethod(lambda cls, v: _expand(v)))

    @field_validator("python")
    @classmethod
    def _python(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[A-Za-z0-9_./+-]+$", v):
            raise ValueError("an interpreter name or absolute path (no spaces or shell characters)")
        return v


class Defaults(_NodeFields):
    pass


class NodeEntry(_NodeFields):
    name: str
    host: str
    role: str | None = None
    expect: Expect = Field(default_factory=Expect)

    _host = field_validator("host")(classmethod(lambda cls, v: _check_host(v)))

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("node names are letters, digits, '.', '_', '-' (at most 63)")
        return v


class InventoryFile(_Model):
    defaults: Defaults = Field(default_factory=Defaults)
    profile: str | None = None
    jump: JumpHost | None = None
    nodes: list[NodeEntry] = Field(min_length=1)
    object_store: ObjectStore | None = None
    # the OpenSSH client config consulted for what the inventory leaves out; not given: ~/.ssh/config
    # when it exists; null: none
    ssh_config: Path | None = None

    _paths = field_validator("ssh_config")(classmethod(lambda cls, v: _expand(v)))

    @model_validator(mode="after")
    def _unique_names(self) -> InventoryFile:
        seen: set[str] = set()
        for node in self.nodes:
            if node.name in seen:
                raise ValueError(f"duplicate node name {node.name!r}")
            seen.add(node.name)
        return self


_INSTANCE_ID = re.compile(r"^i-([0-9a-f]{8}|[0-9a-f]{17})$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


class Ec2Instance(_Model):
    """The EC2 instance behind a node (nodes from a stack): what it printed to its console at first
    boot vouches for its host key (validators/hostkeys)."""

    instance_id: str
    region: str

    @field_validator("instance_id")
    @classmethod
    def _iid(cls, v: str) -> str:
        if not _INSTANCE_ID.match(v):
            raise ValueError("not an EC2 instance id (i- and 8 or 17 hex digits)")
        return v

    @field_validator("region")
    @classmethod
    def _region(cls, v: str) -> str:
        if not _REGION.match(v):
            raise ValueError("not an AWS region name (e.g. us-east-1)")
        return v


class NodeSpec(_Model):
    """One node, every default resolved: what the runner and the transports get."""

    name: str
    host: str
    port: int = 22
    user: str = Field(default_factory=getpass.getuser)
    identity_file: Path | None = None  # None: ssh-agent, then ~/.ssh/id_* (like ssh)
    known_hosts: Path = Field(default_factory=lambda: Path("~/.ssh/known_hosts").expanduser())
    transport: TransportName = "ssh"
    python: str = "python3"
    role: str | None = None
    expect: Expect = Field(default_factory=Expect)
    jump: JumpHost | None = None
    # Set for nodes from a stack (validators/stack_inventory.py), not read from inventory files:
    ec2: Ec2Instance | None = None  # its console output can verify a new host key
    host_key_alias: str | None = None  # known_hosts name instead of the address (the instance id)
    # argv of a local command whose stdin/stdout carry the SSH stream (an EC2 Instance Connect
    # Endpoint tunnel); run without a shell
    proxy_command: tuple[str, ...] | None = None

    @field_validator("host_key_alias")
    @classmethod
    def _alias(cls, v: str | None) -> str | None:
        return None if v is None else _check_host(v)

    @field_validator("proxy_command")
    @classmethod
    def _proxy(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is not None and (not v or len(v) > 32 or any(not a or len(a) > 1024 or not a.isprintable() for a in v)):
            raise ValueError("a proxy command is 1 to 32 printable arguments")
        return v

    @model_validator(mode="after")
    def _one_way_in(self) -> NodeSpec:
        if self.jump is not None and self.proxy_command is not None:
            raise ValueError("a node is reached through a jump host or a proxy command, not both")
        return self


class Inventory(_Model):
    source: str
    profile: str | None = None
    nodes: list[NodeSpec]
    object_store: ObjectStore | None = None
    notes: tuple[str, ...] = ()  # what the user should know before the run (printed, not judged)


def _ssh_config(raw: InventoryFile) -> SshConfigFile | None:
    if "ssh_config" in raw.model_fields_set:
        return None if raw.ssh_config is None else SshConfigFile(raw.ssh_config)
    default = ssh_config.default_path()
    return SshConfigFile(default) if default.is_file() else None


def _with_ssh_config(cfg: SshConfigFile, fields: dict[str, Any], jump: JumpHost | None) -> JumpHost | None:
    """Fill what the inventory left out from the SSH config's answer for the node's host (HostName,
    User, Port, IdentityFile, ProxyJump), checked as strictly as the inventory's own fields."""
    alias = fields["host"]
    found = cfg.lookup(alias)
    where = f"{cfg.path}: Host {alias}"
    try:
        if found.hostname is not None:
            fields["host"] = _check_host(found.hostname)
        if found.user is not None and "user" not in fields:
            fields["user"] = _check_user(found.user)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if found.port is not None and "port" not in fields:
        fields["port"] = found.port
    if found.identity_file is not None and "identity_file" not in fields:
        fields["identity_file"] = found.identity_file
    if jump is not None:
        return jump
    if found.proxy_jump:
        spec = ssh_config.parse_jump(found.proxy_jump, f"{where}: ProxyJump")
        if spec is None:
            return None
        via = cfg.lookup(spec["host"])  # the jump host may itself be an alias
        spec = {"user": via.user, "port": via.port, "identity_file": via.identity_file, **spec,
                "host": via.hostname or spec["host"]}
        try:
            return JumpHost.model_validate({k: v for k, v in spec.items() if v is not None})
        except ValidationError as exc:
            raise ConfigError(f"{where}: ProxyJump: {first_error(exc, JumpHost)}") from None
    if found.proxy_command:
        raise ConfigError(f"{where}: ProxyCommand is not supported (plinth would connect around it); "
                          "use ProxyJump, or the inventory's `jump:`")
    return None


def resolve(raw: InventoryFile, source: str) -> Inventory:
    """Every node's fields: its own, else ``defaults:``, else the SSH config (for SSH nodes), else
    plinth's defaults (NodeSpec)."""
    d = raw.defaults
    cfg = _ssh_config(raw)
    nodes = []
    for n in raw.nodes:
        fields: dict[str, Any] = {"name": n.name, "host": n.host, "role": n.role, "expect": n.expect}
        for key in ("user", "port", "identity_file", "known_hosts", "transport", "python"):
            value = getattr(n, key) if getattr(n, key) is not None else getattr(d, key)
            if value is not None:
                fields[key] = value
        jump = n.jump or d.jump or raw.jump
        if cfg is not None and fields.get("transport", "ssh") == "ssh":
            jump = _with_ssh_config(cfg, fields, jump)
        fields["jump"] = jump
        nodes.append(NodeSpec(**fields))
    return Inventory(source=source, profile=raw.profile, nodes=nodes, object_store=raw.object_store)


def parse_inventory(data: Any, source: str, node: yaml.Node | None = None) -> Inventory:
    """Validate already-loaded inventory data; ConfigError names ``source`` (with line and column
    when ``node``, the YAML node tree, is given) and the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: (top level): expected a mapping with a `nodes:` list")
    try:
        return resolve(InventoryFile.model_validate(data), source)
    except ValidationError as exc:
        raise schema_error(source, exc, InventoryFile, node) from None


def _from_ansible(found: tuple[dict[str, Any], dict[str, int]], path: Path) -> Inventory:
    """An Ansible inventory's nodes, each checked against the node schema with its own line."""
    data, lines = found
    for node in data["nodes"]:
        try:
            NodeEntry.model_validate(node)
        except ValidationError as exc:
            raise ConfigError(f"{path}:{lines[node['name']]}:1: host {node['name']}: {first_error(exc, NodeEntry)}") from None
    return parse_inventory(data, str(path))


def load_inventory(path: Path) -> Inventory:
    """A plinth inventory, or an Ansible one (INI or YAML: validators/inventory_formats)."""
    path = Path(path)
    text = read_input_text(path, "inventory")
    data, node, failed = None, None, None
    if path.suffix.lower() not in INI_SUFFIXES:
        try:
            data, node = load_yaml(text, str(path))
        except YamlError as exc:  # an INI inventory with [sections] is not YAML: ansible_inventory decides
            failed = exc
    found = ansible_inventory(path, text, data, failed.cause if failed is not None else None)
    if found is not None:
        return _from_ansible(found, path)
    if failed is not None:
        raise failed
    return parse_inventory(data, str(path), node)
