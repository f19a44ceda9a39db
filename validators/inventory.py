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

    @model_validator(mode="after")
    def _unique_names(self) -> InventoryFile:
        seen: set[str] = set()
        for node in self.nodes:
            if node.name in seen:
                raise ValueError(f"duplicate node name {node.name!r}")
            seen.add(node.name)
        return self


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


class Inventory(_Model):
    source: str
    profile: str | None = None
    nodes: list[NodeSpec]
    object_store: ObjectStore | None = None


def resolve(raw: InventoryFile, source: str) -> Inventory:
    d = raw.defaults
    nodes = []
    for n in raw.nodes:
        fields: dict[str, Any] = {"name": n.name, "host": n.host, "role": n.role, "expect": n.expect}
        for key in ("user", "port", "identity_file", "known_hosts", "transport", "python"):
            value = getattr(n, key) if getattr(n, key) is not None else getattr(d, key)
            if value is not None:
                fields[key] = value
        fields["jump"] = n.jump or d.jump or raw.jump
        nodes.append(NodeSpec(**fields))
    return Inventory(source=source, profile=raw.profile, nodes=nodes, object_store=raw.object_store)


def parse_inventory(data: Any, source: str) -> Inventory:
    """Validate already-loaded inventory data; ConfigError names ``source`` and the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: (top level): expected a mapping with a `nodes:` list")
    try:
        return resolve(InventoryFile.model_validate(data), source)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {first_error(exc)}") from None


def load_inventory(path: Path) -> Inventory:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read inventory: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        reason = " ".join(str(getattr(exc, "problem", None) or exc).split())  # a ReaderError's str is two lines
        raise ConfigError(f"{path}: not valid YAML{where}: {reason}") from None
    except (ValueError, RecursionError) as exc:  # not UTF-8, an impossible date (2001-13-45), nesting too deep
        raise ConfigError(f"{path}: not valid YAML: {exc.__class__.__name__}: {' '.join(str(exc).split())}") from None
    return parse_inventory(data, str(path))
