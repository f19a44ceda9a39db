"""Estimated hourly cost (catalogue price x max nodes of every node group) against the budget.

The budget is the policy config's ``budgetUsdPerHour``, else the stack's own ``plinth:budgetUsdPerHour``
(the CLI passes the stack's config to policy packs in ``PULUMI_CONFIG``; ``plinth preview`` sets the
same config), else the policy doesn't apply.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

from policies.cost import CostEstimate, estimate
from policies.rules._base import config_of, stack_policy
from policies.rules._graph import of_type
from policies.rules._props import get, plain, require_known
from policies.rules.eks import NODE_GROUP
from policies.rules.training import launch_template_of, pool_types


def stack_estimate(resources: Sequence[PolicyResource]) -> CostEstimate:
    pools = []
    for ng in sorted(of_type(resources, NODE_GROUP), key=lambda r: r.name):
        max_size = require_known(get(plain(ng.props), "scalingConfig", "maxSize", default=0), ng.name, "scalingConfig", "maxSize")
        pools.append((ng.name, pool_types(ng, launch_template_of(ng, resources)), int(max_size)))
    return estimate(pools)


def stack_budget() -> float | None:
    """``plinth:budgetUsdPerHour`` from the stack's config, if the runtime has it."""
    try:
        value = pulumi.Config("plinth").get_float("budgetUsdPerHour")
    except Exception:  # noqa: BLE001 - a malformed value is the stack program's error to report, not ours
        return None
    return value if value and value > 0 else None


def _check_budget(args: StackValidationArgs, report: ReportViolation) -> None:
    budget = config_of(args).budget_usd_per_hour or stack_budget()
    if budget is None:
        args.not_applicable("no budget: set plinth:budgetUsdPerHour or the policy's budgetUsdPerHour")
        return
    est = stack_estimate(args.resources)
    if est.usd_per_hour > budget:
        parts = ", ".join(f"{p.name} {p.max_nodes} x {p.instance_type} = {p.usd_per_hour:,.2f}" for p in est.pools if p.instance_type)
        report(f"estimated {est.usd_per_hour:,.2f} USD/hour at max nodes exceeds the budget of {budget:,.2f} USD/hour ({parts})", None)
    if est.unpriced:
        report(f"cost of {', '.join(est.unpriced)} is unknown (not in the catalogue); the estimate leaves it out", None)


POLICIES = [
    stack_policy("cost-within-budget", "The stack's estimated hourly cost at max nodes should stay within the budget.",
                 _check_budget, "advisory", config=("budgetUsdPerHour",)),
]
