"""``plinth:gpuPools``: the GPU node groups, their sizes, capacity (on-demand, spot, reservations,
Capacity Blocks) and zone."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from stacks.config.base import NAME, ConfigModel, zone_name


class CapacityReservationConfig(ConfigModel):
    """An On-Demand Capacity Reservation (or its resource group), or the reservation of a Capacity Block
    for ML. Reservations live in one availability zone: the pool's ``availabilityZone`` must be it."""

    id: str | None = None
    resource_group_arn: str | None = None  # an ODCR resource group (several reservations, one target)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"cr-[0-9a-f]{8,17}", v):
            raise ValueError(f"not a capacity reservation id: {v!r} (cr-…)")
        return v

    @model_validator(mode="after")
    def _one_target(self) -> CapacityReservationConfig:
        if (self.id is None) == (self.resource_group_arn is None):
            raise ValueError("set exactly one of id or resourceGroupArn")
        return self


class GpuPoolConfig(ConfigModel):
    name: str
    instance_type: str
    min_size: int = Field(default=0, ge=0)
    max_size: int = Field(default=2, ge=1, le=1000)
    desired_size: int = Field(default=0, ge=0)
    # CAPACITY_BLOCK: a Capacity Block for ML (EKS user guide, "Create a managed node group with
    # Capacity Blocks for ML"); needs capacityReservation.id and availabilityZone.
    capacity_type: Literal["ON_DEMAND", "SPOT", "CAPACITY_BLOCK"] = "ON_DEMAND"
    # The zone this pool launches in. A distributed pool (one placement group) or a reserved one runs
    # in exactly one zone and must name it: the zone with capacity, not the alphabetically first.
    availability_zone: str | None = None
    capacity_reservation: CapacityReservationConfig | None = None
    profile: str = "distributed_training"
    interruptible: bool = False  # only interruptible (checkpointing) work may run on SPOT
    root_volume_gb: int = Field(default=200, ge=20, le=16384)
    efa: bool | None = None  # None: on when the instance type has EFA and the pool trains distributed
    placement_group: bool | None = None  # None: on for distributed training

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.match(v):
            raise ValueError("must be lowercase letters, digits and '-' (at most 40 characters)")
        return v

    @field_validator("instance_type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        from policies.catalogue import catalogue

        if catalogue().get(v) is None:  # hardware, EFA count, AMI type and price all come from the catalogue
            raise ValueError(f"unknown instance type {v!r} (known: {', '.join(sorted(catalogue().instances))})")
        return v

    @field_validator("availability_zone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        return None if v is None else zone_name(v)

    @model_validator(mode="after")
    def _sizes(self) -> GpuPoolConfig:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"sizes must satisfy minSize <= desiredSize <= maxSize (got {self.min_size} <= {self.desired_size} <= {self.max_size})"
            )
        return self

    def capacity_problem(self) -> str | None:
        """Why the pool's capacity settings can't launch, as 'field: reason' (None: fine)."""
        reservation = self.capacity_reservation
        if self.capacity_type == "CAPACITY_BLOCK" and (reservation is None or reservation.id is None):
            return "capacityReservation.id: a CAPACITY_BLOCK pool launches into its Capacity Block's reservation (cr-…)"
        if self.capacity_type == "SPOT" and reservation is not None:
            return "capacityReservation: reservations hold on-demand capacity; a SPOT pool cannot use one"
        if self.single_zone and self.availability_zone is None:
            why = ("a reservation lives in one zone" if reservation is not None
                   else "a pool that trains across nodes (or has a placement group) runs in one zone")
            return (f"availabilityZone: {why}; name the zone with capacity for {self.instance_type} "
                    "(aws ec2 describe-instance-type-offerings --location-type availability-zone)")
        return None

    @property
    def distributed(self) -> bool:
        return self.profile == "distributed_training"

    @property
    def single_zone(self) -> bool:
        """Runs in exactly one zone: it trains across nodes (all-reduce across zones pays latency and
        transfer), sits in a cluster placement group, or uses capacity reserved in one zone."""
        return self.distributed or bool(self.placement_group) or self.capacity_reservation is not None
