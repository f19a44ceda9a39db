"""What every part of the stack config shares: the model base (Pulumi's camelCase keys, nothing
unknown, frozen) and the field checks more than one pillar makes."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# relative paths in a stack file (an SSH public key, a device CSR) start here
PROJECT_DIR = Path(__file__).parents[2]
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
ZONE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d[a-z](-[a-z0-9-]+)?$")  # us-east-1a, us-west-2-lax-1a


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, allow_inf_nan=False)


def cidr_block(value: str) -> str:
    try:
        ipaddress.ip_network(value)
    except ValueError:
        raise ValueError(f"not a CIDR block: {value!r}") from None
    return value


def zone_name(value: str) -> str:
    if not ZONE.match(value):
        raise ValueError(f"not an availability zone name: {value!r} (e.g. us-east-1a)")
    return value


def known_profile(value: str) -> str:
    from policies.thresholds import builtin_profiles

    if value not in builtin_profiles():
        raise ValueError(f"unknown profile {value!r} (known: {', '.join(sorted(builtin_profiles()))})")
    return value
