"""What an instance type's front-end network delivers to a TCP test with a given number of flows
(data: policies/data/frontend_network.yaml, with its AWS sources). Pure.

A pairwise TCP test with F flows between two instances of type T can reach at most
``min(F x per-flow limit, T's front-end bandwidth)``: 4 flows outside a cluster placement group
give 20 Gbps on a p5.48xlarge, whose 3200 Gbps are EFA's, not TCP's. network.bandwidth fails a
pair below ``healthy_fraction`` of that, instead of holding every healthy pair to a fabric figure
no single TCP flow can reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from policies.catalogue import InstanceType

DATA_FILE = Path(__file__).parent / "data" / "frontend_network.yaml"


class FrontendData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: str
    source: str
    per_flow_gbps: dict[str, float]
    healthy_fraction: float = Field(gt=0, le=1)


@lru_cache(maxsize=1)
def frontend_data() -> FrontendData:
    return FrontendData.model_validate(yaml.safe_load(DATA_FILE.read_text()))


@dataclass(frozen=True)
class Deliverable:
    gbps: float  # what a healthy pair of this type reaches with `flows` TCP flows
    floor_gbps: float  # healthy_fraction of it: below is a fail
    flows: int
    per_flow_gbps: float
    aggregate_gbps: float  # the instance's front-end share (network card 0)
    placement: str  # how the per-flow limit was chosen

    def describe(self, instance_type: str) -> str:
        limit = (f"{self.flows} flow(s) x {self.per_flow_gbps:g} Gbps {self.placement}"
                 if self.flows * self.per_flow_gbps <= self.aggregate_gbps else f"its {self.aggregate_gbps:g} Gbps front-end")
        return (f"a healthy {instance_type} pair reaches ~{self.gbps:g} Gbps over TCP ({limit}); "
                f"fails below {frontend_data().healthy_fraction:.0%} of it")


def frontend_gbps(row: InstanceType) -> float:
    """The instance's front-end (ENA) bandwidth: network card 0's share on multi-card types."""
    return row.network_gbps / max(1, row.efa_interfaces)


def deliverable_tcp(row: InstanceType, flows: int, cluster_placement_group: bool | None) -> Deliverable:
    data = frontend_data()
    if cluster_placement_group:
        per_flow, placement = data.per_flow_gbps["cluster_placement_group"], "inside a cluster placement group"
    else:
        per_flow = data.per_flow_gbps["outside_cluster_placement_group"]
        placement = "outside a cluster placement group" if cluster_placement_group is False else "(placement unknown)"
    flows = max(1, flows)
    aggregate = frontend_gbps(row)
    gbps = min(flows * per_flow, aggregate)
    return Deliverable(gbps, round(gbps * data.healthy_fraction, 3), flows, per_flow, aggregate, placement)


__all__ = ["Deliverable", "FrontendData", "deliverable_tcp", "frontend_data", "frontend_gbps"]
