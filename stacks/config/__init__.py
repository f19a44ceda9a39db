"""Stack configuration: the pydantic model of ``stacks/Pulumi.<stack>.yaml``.

Keys are Pulumi config keys in the ``plinth`` namespace (camelCase, e.g. ``plinth:gpuPools``) plus
``aws:region``. The same model is filled from the live Pulumi config in a real run
(:func:`from_pulumi_config`) and from the stack file offline (:func:`load_stack_file`); offline
preview also feeds the file to the program as Pulumi config, so both worlds share one code path.
Every error is one line naming the stack file and the field.

The model is one module per pillar (``network``, ``cluster``, ``gpu_pools``, ``kubernetes``,
``lakehouse``, ``edge``, ``validation``), joined in ``stack``; this module reads stack files and
the live config into it, and exports every model by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from policies.errors import ConfigError, Loc, field_path
from policies.inputs import load_yaml, read_input_text, schema_error
from stacks.config.base import PROJECT_DIR
from stacks.config.cluster import ClusterConfig, SystemNodesConfig
from stacks.config.edge import EdgeConfig, EdgeDevice, EdgeWorkload, ZoneAccess
from stacks.config.gpu_pools import CapacityReservationConfig, GpuPoolConfig
from stacks.config.kubernetes import KubernetesConfig, TeamQuota
from stacks.config.lakehouse import LakehouseAccess, LakehouseConfig, LifecycleConfig
from stacks.config.network import NetworkConfig, VpnConfig
from stacks.config.stack import STRATEGIES, StackConfig, Strategy
from stacks.config.validation import (
    MIN_SSH_SOURCE_PREFIX,
    InClusterValidationConfig,
    SshAccessConfig,
    ValidationConfig,
)

__all__ = [
    "MIN_SSH_SOURCE_PREFIX", "NAMESPACE", "PROJECT_DIR", "STACKS_DIR", "STRATEGIES",
    "CapacityReservationConfig", "ClusterConfig", "EdgeConfig", "EdgeDevice", "EdgeWorkload", "GpuPoolConfig",
    "InClusterValidationConfig", "KubernetesConfig", "LakehouseAccess", "LakehouseConfig", "LifecycleConfig",
    "NetworkConfig", "SshAccessConfig", "StackConfig", "Strategy", "SystemNodesConfig", "TeamQuota",
    "ValidationConfig", "VpnConfig", "ZoneAccess",
    "config_from_mapping", "from_pulumi_config", "load_stack", "load_stack_file", "stack_config_mapping", "stack_file",
]

# where `plinth strategy --write-stack` writes and a bare stack name is looked up (tests point it elsewhere)
STACKS_DIR = PROJECT_DIR / "stacks"
NAMESPACE = "plinth"


def stack_file(stack: str) -> Path:
    return STACKS_DIR / f"Pulumi.{stack}.yaml"


def _display(loc: Loc) -> str:
    """A location as the user writes it in a stack file: plinth:gpuPools[0].instanceType."""
    if not loc:
        return "config"
    if loc[0] == "region":
        return "aws:region" + field_path(loc[1:]).removeprefix("(top level)")
    return f"{NAMESPACE}:{field_path(loc)}"


def _in_file(loc: Loc) -> Loc:
    """The same location among the stack file's keys (everything sits under ``config:``)."""
    if not loc:
        return ("config",)
    head = "aws:region" if loc[0] == "region" else f"{NAMESPACE}:{loc[0]}"
    return ("config", head, *loc[1:])


def _validate(data: dict[str, Any], where: str, node: yaml.Node | None = None) -> StackConfig:
    try:
        return StackConfig.model_validate(data)
    except ValidationError as exc:
        # fields as the user writes them (plinth:gpuPools[0].instanceType), at their line in the file
        raise schema_error(where, exc, StackConfig, node, to_yaml=_in_file, display=_display) from None


def config_from_mapping(config: dict[str, Any], where: str, node: yaml.Node | None = None) -> StackConfig:
    """Build the model from a Pulumi ``config:`` mapping ({"plinth:strategy": ..., "aws:region": ...})."""
    data: dict[str, Any] = {}
    for key, value in config.items():
        if not isinstance(key, str) or ":" not in key:
            raise ConfigError(f"{where}: {field_path(('config', key))}: keys must be namespaced (plinth:<key> or aws:region)")
        ns, name = key.split(":", 1)
        if ns == NAMESPACE:
            data[name] = value
        elif key == "aws:region":
            data["region"] = value
    return _validate(data, where, node)


def _stack_document(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    data, node = load_yaml(read_input_text(path, "stack file"), str(path))
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise ConfigError(f"{path}: config: a stack file needs a 'config:' mapping")
    return data["config"], node


def stack_config_mapping(path: Path) -> dict[str, Any]:
    """The raw ``config:`` mapping of a stack file."""
    return _stack_document(path)[0]


def load_stack_file(path: Path) -> StackConfig:
    config, node = _stack_document(path)
    return config_from_mapping(config, str(path), node)


def load_stack(stack: str) -> StackConfig:
    """Offline: ``stacks/Pulumi.<stack>.yaml`` (or a path to any stack file)."""
    path = Path(stack)
    # a path with a directory is read as given (read_input says why it can't be), never stat()ed
    # here: on a hung mount that alone would block
    if not (path.suffix in {".yaml", ".yml"} and ("/" in stack or path.exists())):
        path = stack_file(stack)
    return load_stack_file(path)


def from_pulumi_config() -> StackConfig:
    """In a Pulumi program: read every field from the live config (``pulumi.Config``)."""
    import pulumi

    cfg = pulumi.Config(NAMESPACE)
    data: dict[str, Any] = {}
    for name, field in StackConfig.model_fields.items():
        key = field.alias or name
        if key == "region":
            continue
        value = cfg.get_object(key) if field.annotation not in (str, Strategy) else cfg.get(key)
        if value is None:
            value = cfg.get(key)
        if value is not None:
            data[key] = value
    region = pulumi.Config("aws").get("region")
    if region:
        data["region"] = region
    return _validate(data, str(stack_file(pulumi.get_stack())))
