"""Configuration of the plinth policy pack: enforcement per rule and the numbers rules compare with.

One model, two ways in:

* ``plinth preview --policy-config FILE`` reads a JSON/YAML file (:func:`load_policy_config`);
* the real ``pulumi preview --policy-pack policies/pack --policy-pack-config FILE`` hands each policy
  the properties of *its* entry, which a rule turns back into this model with
  :func:`config_from_policy_args` (``args.get_config()``).

The file may be written in either shape, so one file serves both worlds:

* plinth's flat shape::

      {"enforcement": {"training-pool-efa": "mandatory"}, "budgetUsdPerHour": 120,
       "requiredTags": ["owner", "cost-center", "strategy"]}

* Pulumi's policy-pack-config shape (keys are policy names, or ``all``)::

      {"all": "advisory", "cost-within-budget": {"enforcementLevel": "mandatory", "budgetUsdPerHour": 120}}

:func:`to_pulumi_policy_pack_config` writes the second shape from the first. The minimum training
bandwidth defaults to the ``distributed_training`` profile's ``network.rdma_bandwidth.min`` (one
number, one place: the seed's 100 Gbps+ is the fabric's -- EFA/InfiniBand, what an instance type's
network bandwidth figure counts -- and the validators judge the measured RDMA bandwidth against it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from policies.errors import ConfigError, at, did_you_mean, first_error
from policies.inputs import load_yaml, read_input_text, schema_error, yaml_locator

Enforcement = Literal["mandatory", "advisory", "disabled"]
ENFORCEMENTS: tuple[str, ...] = ("mandatory", "advisory", "disabled")
TRAINING_PROFILE = "distributed_training"
DEFAULT_REQUIRED_TAGS = ("owner", "cost-center", "strategy")


TRAINING_BANDWIDTH_CHECK = "network.rdma_bandwidth"


def _training_bandwidth_default() -> float:
    """``network.rdma_bandwidth.min`` of the distributed-training profile (the seed's 100 Gbps)."""
    from policies.thresholds import builtin_profiles

    threshold = builtin_profiles()[TRAINING_PROFILE].threshold(TRAINING_BANDWIDTH_CHECK)
    if threshold is None or threshold.min is None:  # a profile edit must not silently disable the rule
        raise ConfigError(f"policies/profiles/{TRAINING_PROFILE}.yaml: thresholds.{TRAINING_BANDWIDTH_CHECK}.min: "
                          "required by the policy pack")
    return threshold.min


class PolicyConfig(BaseModel):
    """Everything a rule may be configured with. Field names are camelCase on the wire (as Pulumi
    policy config properties are), snake_case in Python."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, allow_inf_nan=False)

    enforcement: dict[str, Enforcement] = Field(
        default_factory=dict, description="Enforcement level per policy name, overriding the pack's defaults."
    )
    budget_usd_per_hour: float | None = Field(
        default=None, gt=0, description="Hourly budget in USD; unset: the stack's plinth:budgetUsdPerHour."
    )
    allowed_instance_types: list[str] | None = Field(
        default=None, description="EC2 instance types node groups may use; unset: any type in plinth's catalogue."
    )
    required_tags: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REQUIRED_TAGS), description="Tag keys every taggable AWS resource must carry."
    )
    min_training_bandwidth_gbps: float = Field(
        default_factory=_training_bandwidth_default, gt=0,
        description="Minimum instance network bandwidth (Gbps) for distributed-training pools.",
    )
    training_profile: str = Field(
        default=TRAINING_PROFILE, description="Value of the plinth.dev/profile label that marks distributed-training pools."
    )
    max_nodes_per_pool: int = Field(default=64, ge=1, description="Upper bound for a node group's maxSize.")
    gpu_taint_key: str = Field(default="nvidia.com/gpu", description="Taint key GPU nodes carry and GPU pods tolerate.")

    def enforcement_for(self, policy: str, default: Enforcement) -> Enforcement:
        return self.enforcement.get(policy, default)

    def properties(self, names: Iterable[str]) -> dict[str, Any]:
        """The wire-form (camelCase) properties ``names`` that are set: what the Pulumi CLI hands a
        policy whose config schema lists them."""
        dumped = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        return {name: dumped[name] for name in names if name in dumped}


# Wire names of the properties a policy's config schema may list (everything but ``enforcement``,
# which Pulumi carries as each policy's ``enforcementLevel``).
PROPERTY_NAMES: tuple[str, ...] = tuple(
    (field.alias or name) for name, field in PolicyConfig.model_fields.items() if name != "enforcement"
)


def config_schema_properties(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """JSON-schema fragments for ``PolicyConfigSchema(properties=...)``, generated from the model so
    the pack's advertised schema and the validation here never disagree."""
    schema = PolicyConfig.model_json_schema(by_alias=True)["properties"]
    defaults = PolicyConfig().model_dump(by_alias=True, mode="json")
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        if name not in PROPERTY_NAMES:
            raise KeyError(f"unknown policy config property {name!r}")
        prop = dict(schema[name])
        prop.pop("title", None)
        # Optional fields come out as anyOf [X, null]; Pulumi's config UI and validation want plain X
        # (leaving a property out is how it's left unset).
        variants = [v for v in prop.pop("anyOf", []) if v.get("type") != "null"]
        if len(variants) == 1:
            prop.update(variants[0])
        if prop.get("default", 0) is None:
            del prop["default"]
        if defaults.get(name) is not None:  # default_factory fields have no "default" in pydantic's schema
            prop["default"] = defaults[name]
        out[name] = prop
    return out


def config_from_policy_args(config: Mapping[str, Any] | None) -> PolicyConfig:
    """The model from one policy's ``args.get_config()`` (only the properties its schema lists;
    the CLI has validated them already, so anything it doesn't know is ignored here)."""
    data = {k: v for k, v in (config or {}).items() if k in PROPERTY_NAMES}
    try:
        return PolicyConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"policy config: {first_error(exc, PolicyConfig)}") from None


def _from_pulumi_shape(raw: Mapping[str, Any], where: str, policy_names: set[str]) -> dict[str, Any]:
    """Pulumi's ``{"all": level, "<policy>": level | {"enforcementLevel": ..., props}}`` to the flat shape."""
    enforcement: dict[str, str] = {}
    props: dict[str, Any] = {}
    entries = dict(raw)
    if "all" in entries:
        level = entries.pop("all")
        level = level.get("enforcementLevel") if isinstance(level, Mapping) else level
        if level not in ENFORCEMENTS:
            raise ConfigError(f"{where}: all: enforcement must be one of {', '.join(ENFORCEMENTS)} (got {level!r})")
        enforcement.update({name: level for name in policy_names})
    for name, entry in entries.items():
        if isinstance(entry, str):
            enforcement[name] = entry
            continue
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: {name}: expected an enforcement level or a mapping")
        for key, value in entry.items():
            if key == "enforcementLevel":
                enforcement[name] = value
            elif key in props and props[key] != value:
                raise ConfigError(f"{where}: {name}.{key}: conflicts with the value another policy's entry sets")
            else:
                props[key] = value
    return {"enforcement": enforcement, **props}


def parse_policy_config(raw: Any, where: str, policy_names: Iterable[str], node: yaml.Node | None = None) -> PolicyConfig:
    names = set(policy_names)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: (top level): expected a mapping")
    if raw and set(raw) <= names | {"all"}:
        raw = _from_pulumi_shape(raw, where, names)
        node = None  # keys were regrouped: positions in the file no longer match the model's
    try:
        cfg = PolicyConfig.model_validate(raw)
    except ValidationError as exc:
        raise schema_error(where, exc, PolicyConfig, node) from None
    unknown = sorted(set(cfg.enforcement) - names)
    if unknown:
        located = at(where, yaml_locator(node)(("enforcement", unknown[0]), "key") if node is not None else None)
        raise ConfigError(f"{located}: enforcement: unknown policy {unknown[0]!r}{did_you_mean(unknown[0], sorted(names))}")
    return cfg


def load_policy_config(path: Path | None, policy_names: Iterable[str]) -> PolicyConfig:
    """``--policy-config FILE`` (JSON or YAML, either shape); None gives the defaults."""
    if path is None:
        return PolicyConfig()
    text = read_input_text(path, "policy config")
    if path.suffix == ".json":
        try:
            raw, node = json.loads(text), None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
        except (ValueError, RecursionError) as exc:  # a 5000-digit number, [[[[...]]]]
            raise ConfigError(f"{path}: not valid JSON: {' '.join(str(exc).split()) or exc.__class__.__name__}") from None
    else:
        raw, node = load_yaml(text, str(path))
    return parse_policy_config(raw, str(path), policy_names, node)


def to_pulumi_policy_pack_config(
    cfg: PolicyConfig, schema_properties: Mapping[str, Iterable[str]]
) -> dict[str, Any]:
    """The ``--policy-pack-config`` JSON for the real CLI: each policy gets its enforcement override
    and the properties its schema lists. ``schema_properties`` maps policy name to property names."""
    out: dict[str, Any] = {}
    for policy, names in schema_properties.items():
        entry: dict[str, Any] = cfg.properties(names)
        if policy in cfg.enforcement:
            entry["enforcementLevel"] = cfg.enforcement[policy]
        if entry:
            out[policy] = entry
    return out
