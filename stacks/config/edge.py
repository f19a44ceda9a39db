"""``plinth:edge``: the device group, its devices' credentials and the edge inference workload."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field

from stacks.config.base import ConfigModel

ZoneAccess = Literal["read", "write", "read-write"]


class EdgeDevice(ConfigModel):
    name: str
    hardware: Literal["jetson", "raspberry-pi", "intel-nuc", "other"] = "jetson"
    # The device's certificate request: PEM text, or a path to a PEM file (relative paths start at
    # the project directory). The private key never leaves the device. ``csrFile`` is the old name.
    csr: str | None = Field(default=None, validation_alias=AliasChoices("csr", "csrFile"))
    # Opt-in instead of a CSR: AWS makes the key pair and the private key lands in Pulumi state.
    generate_key_pair: bool = False
    zones: list[str] | None = None  # lakehouse zones this device reaches; None: every edge.zoneAccess zone


class EdgeWorkload(ConfigModel):
    name: str = "edge-inference"
    image: str
    kind: Literal["Deployment", "DaemonSet"] = "DaemonSet"
    replicas: int = Field(default=1, ge=1)
    node_selector: dict[str, str] = Field(default_factory=lambda: {"plinth.dev/edge": "true"})
    cpu: str = "1"
    memory: str = "1Gi"
    gpus: int = Field(default=0, ge=0)
    max_input_mb: int = Field(default=10, ge=1)  # seed: inputs over 10 MB are rejected at the edge
    kubeconfig: str | None = None
    context: str | None = None


class EdgeConfig(ConfigModel):
    group: str = "edge-fleet"
    topic_prefix: str = "plinth"
    devices: list[EdgeDevice] = Field(min_length=1)
    workload: EdgeWorkload | None = None
    # zone -> what devices may do under <zone bucket>/devices/<thing name>/ (samples up, models down)
    zone_access: dict[str, ZoneAccess] = Field(default_factory=lambda: {"raw": "write", "models": "read"})
    # lifetime of the credentials the IoT credentials provider hands a device (AWS: 900..43200 s)
    credential_duration_seconds: int = Field(default=3600, ge=900, le=43200)
