"""Estimated hourly cost of a stack's node groups (pure: catalogue price x max nodes).

The estimate is the worst case the stack allows: every node group at ``maxSize``, priced at the most
expensive of its instance types (a managed node group may launch any of them). Prices are the
catalogue's on-demand us-east-1 list prices (``policies/data/instances.yaml``, dated ``as_of``); SPOT
pools are priced on demand too, because spot prices move and a budget should hold when spot is gone.
Types the catalogue doesn't know are listed as unpriced rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from policies.catalogue import instance


@dataclass(frozen=True)
class PoolCost:
    name: str
    instance_type: str | None  # the priced (most expensive known) type; None when none is priced
    max_nodes: int
    usd_per_hour: float  # for the whole pool at max_nodes
    unpriced_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class CostEstimate:
    pools: tuple[PoolCost, ...] = field(default_factory=tuple)

    @property
    def usd_per_hour(self) -> float:
        return round(sum(p.usd_per_hour for p in self.pools), 4)

    @property
    def unpriced(self) -> list[str]:
        return [f"{p.name}: {t}" for p in self.pools for t in p.unpriced_types]


def pool_cost(name: str, instance_types: Sequence[str], max_nodes: int) -> PoolCost:
    priced = [(row.usd_per_hour, t) for t in instance_types if (row := instance(t)) is not None]
    unpriced = tuple(t for t in instance_types if instance(t) is None)
    if not priced:
        return PoolCost(name, None, max_nodes, 0.0, unpriced)
    price, itype = max(priced)
    return PoolCost(name, itype, max_nodes, round(price * max(max_nodes, 0), 4), unpriced)


def estimate(pools: Iterable[tuple[str, Sequence[str], int]]) -> CostEstimate:
    """``pools``: (name, instance types, max nodes) per node group."""
    return CostEstimate(tuple(pool_cost(name, types, max_nodes) for name, types, max_nodes in pools))
