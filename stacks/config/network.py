"""``plinth:network``: the VPC, its zones and NAT, and the link to on-prem (VPN or one you bring)."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from stacks.config.base import ConfigModel, cidr_block, zone_name
from stacks.network_checks import customer_gateway_ip_problem


class VpnConfig(ConfigModel):
    customer_gateway_ip: str  # required: the public IPv4 address of the on-prem router (no default)
    bgp_asn: int = Field(default=65000, ge=1, le=4294967294)  # region-specific checks: AiNetwork
    static_routes_only: bool = True

    @field_validator("customer_gateway_ip")
    @classmethod
    def _ip(cls, v: str) -> str:
        problem = customer_gateway_ip_problem(v)
        if problem:
            raise ValueError(problem)
        return v


class NetworkConfig(ConfigModel):
    cidr: str = "10.0.0.0/16"
    az_count: int = Field(default=3, ge=1, le=6)
    # Zones by name, in the order subnets are laid out; empty: the first azCount the region offers.
    # Name them when a GPU pool must land where the capacity (or a reservation) is.
    availability_zones: list[str] = Field(default_factory=list, max_length=6)
    # One NAT per AZ by default: a GPU pool lives in one zone, and a single NAT elsewhere makes every
    # image pull cross zones (charged) and ties the pool to another zone's health. true: one, cheaper.
    single_nat_gateway: bool = False
    # one block or a list (node, pod and service ranges on-prem are often separate blocks)
    on_prem_cidr: list[str] | None = None
    vpn: VpnConfig | None = None
    # "external": on-prem reaches the VPC over a link plinth does not build (Direct Connect, a transit
    # gateway): no VPN, and the routes to onPremCidr are yours to add
    on_prem_link: Literal["vpn", "external"] = "vpn"

    _check_cidr = field_validator("cidr")(classmethod(lambda cls, v: cidr_block(v)))

    @field_validator("on_prem_cidr", mode="before")
    @classmethod
    def _onprem(cls, v: Any) -> Any:
        if v is None:
            return None
        # ValueError throughout: pydantic turns it (not TypeError) into a one-line field error
        blocks = [v] if isinstance(v, str) else v
        if not isinstance(blocks, list) or not blocks or not all(isinstance(b, str) for b in blocks):
            raise ValueError("one CIDR block or a non-empty list of them")
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for b in blocks:
            net = ipaddress.ip_network(cidr_block(b))
            if net.version != 4:
                raise ValueError(f"{b}: VPN routes to on-prem are IPv4 blocks")
            if any(net.overlaps(n) for n in nets):
                raise ValueError(f"{b} overlaps another on-prem block")
            nets.append(net)
        return blocks

    @model_validator(mode="after")
    def _link(self) -> NetworkConfig:
        if self.on_prem_link == "external" and self.vpn is not None:
            raise ValueError("onPremLink: external means plinth builds no VPN; remove network.vpn or the link setting")
        return self

    @field_validator("availability_zones")
    @classmethod
    def _zones(cls, v: list[str]) -> list[str]:
        for zone in v:
            zone_name(zone)
        if len(set(v)) != len(v):
            raise ValueError("zones must be unique")
        return v

    @model_validator(mode="after")
    def _zone_count(self) -> NetworkConfig:
        if self.availability_zones and "az_count" in self.model_fields_set and self.az_count != len(self.availability_zones):
            raise ValueError(f"azCount {self.az_count} but {len(self.availability_zones)} availabilityZones named; "
                             "set one of them")
        return self

    @property
    def zone_count(self) -> int:
        return len(self.availability_zones) or self.az_count
