"""``plinth preview`` as a plan: what a ``pulumi up`` would create, and what the policy pack says.

Pure rendering, apart from the run (``policies.preview``), so every report command can wire it to
the shared report flags:

- :func:`plan_order`: a stable resource order, by parent chain, then type, then name (the order the
  program registered them in varies between runs: registrations are asynchronous);
- :func:`report_data`: the JSON contract (ARCHITECTURE.md section 3) plus the plan: each resource's
  action and inputs (Pulumi secrets and secret-shaped values masked, keys sorted), violations grouped
  per policy, what could not be evaluated, each policy's status and the verdict line;
- :func:`render_json`: the JSON text (two previews of the same stack are byte-identical);
- :func:`print_plan`: the console view: a tree with ``+`` create markers, the summary line
  (``+ 103 to create``), violations grouped per policy with counts, the verdict and the cost.

Everything a stack or a node group name carries is data: printed through ``rich.text.Text``, never
parsed as markup.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pulumi_policy.proxy import (
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)
from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from policies.evaluate import COULD_NOT_RUN, DISABLED, RAN, STACK_TYPE, CapturedResource, Evaluation

FIRST_PREVIEW = "first-preview"
KNOWN_OUTPUTS = "known-outputs"
MODE_TEXT = {
    FIRST_PREVIEW: "first preview: outputs of resources not yet created are unknown, as in `pulumi preview` of a new stack",
    KNOWN_OUTPUTS: "known outputs: every resource as if created, with plausible provider outputs (ids, ARNs, names)",
}
SECRET = "[secret]"
UNKNOWN = "[unknown]"
_UNKNOWNS = {UNKNOWN_STRING_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_ARRAY_VALUE, UNKNOWN_OBJECT_VALUE}
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
# Input names whose values are credentials whether or not the program marked them secret
# (compared lowercased, without '_' and '-', by suffix: clientSecret, apiToken, privateKey, …).
_SECRET_NAMES = ("password", "passwd", "passphrase", "secret", "token", "apikey", "privatekey", "secretkey",
                 "secretaccesskey", "credential", "credentials", "kubeconfig")
_SECRET_VALUE = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|\b(AKIA|ASIA)[0-9A-Z]{16}\b")
SHOWN_PER_POLICY = 3  # console: messages shown per policy before "… and N more"


# ---- order ------------------------------------------------------------------------------------

def _key(r: CapturedResource) -> tuple[str, str, str]:
    return (r.type, r.name, r.urn)


def plan_order(resources: Sequence[CapturedResource]) -> list[CapturedResource]:
    """Depth first from the roots, siblings by (type, name): the same order on every run."""
    by_urn = {r.urn: r for r in resources}
    children: dict[str | None, list[CapturedResource]] = defaultdict(list)
    for r in resources:
        children[r.parent if r.parent in by_urn else None].append(r)
    out: list[CapturedResource] = []
    stack = sorted(children[None], key=_key, reverse=True)
    while stack:
        r = stack.pop()
        out.append(r)
        stack.extend(sorted(children.get(r.urn, []), key=_key, reverse=True))
    return out


# ---- masking ----------------------------------------------------------------------------------

def _secret_name(key: str | None) -> bool:
    if not key:
        return False
    k = key.lower().replace("_", "").replace("-", "")
    return k.endswith(_SECRET_NAMES)


def mask(value: Any, key: str | None = None) -> Any:
    """Wire-form inputs for a report: Pulumi secrets and secret-shaped values become ``[secret]``,
    unknowns ``[unknown]``, mappings get sorted keys."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return SECRET
        return {k: mask(value[k], k) for k in sorted(value)}
    if isinstance(value, list):
        return [mask(v, key) for v in value]
    if isinstance(value, str):
        if value in _UNKNOWNS:
            return UNKNOWN
        if _SECRET_VALUE.search(value) or (_secret_name(key) and value):
            return SECRET
    elif _secret_name(key) and value is not None and not isinstance(value, bool):
        return SECRET
    return value


# ---- the report -------------------------------------------------------------------------------

def verdict(evaluation: Evaluation, mode: str) -> str:
    """Never more than the evaluation shows: how many policies could judge the stack, how many could not."""
    mandatory = len(evaluation.mandatory)
    ran, blocked, disabled = (evaluation.count(s) for s in (RAN, COULD_NOT_RUN, DISABLED))
    noun = "violation" if mandatory == 1 else "violations"
    line = f"{mandatory} mandatory {noun} among the {ran} policies that could run"
    when = "before creation" if mode == FIRST_PREVIEW else "(values unknown)"
    line += f"; {blocked} could not run {when}"
    if disabled:
        line += f"; {disabled} disabled"
    return line


def _groups(items: Iterable[Any], message: str) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for item in items:
        grouped[(item.policy, item.enforcement)].append(item)
    rank = {"mandatory": 0, "advisory": 1}
    out = []
    for (policy, level), group in sorted(grouped.items(), key=lambda kv: (rank.get(kv[0][1], 2), kv[0][0])):
        out.append({
            "policy": policy, "enforcement": level, "count": len(group),
            "resources": sorted({g.resource or "(stack)" for g in group}),
            "messages": sorted({getattr(g, message) for g in group}),
        })
    return out


def report_data(stack: str, strategy: str, mode: str, resources: Sequence[CapturedResource], evaluation: Evaluation,
                cost_usd: float, budget: float | None) -> dict[str, Any]:
    ordered = [r for r in plan_order(resources) if r.type != STACK_TYPE]
    names = {r.urn: r.name for r in resources if r.type != STACK_TYPE}
    violations = sorted(evaluation.violations, key=lambda v: (v.policy, v.urn or "", v.message))
    blocked = sorted(evaluation.not_evaluated, key=lambda n: (n.policy, n.urn or "", n.reason))
    return {
        "stack": stack,
        "strategy": strategy,
        "mode": mode,
        "summary": {"create": len(ordered)},
        "resources": [
            {"action": "create", "type": r.type, "name": r.name, "parent": names.get(r.parent or ""), "urn": r.urn,
             "inputs": mask(r.inputs)}
            for r in ordered
        ],
        "violations": [
            {"policy": v.policy, "resource": v.resource, "enforcement": v.enforcement, "message": v.message, "urn": v.urn}
            for v in violations
        ],
        "violations_by_policy": _groups(violations, "message"),
        "could_not_run": [
            {"policy": n.policy, "resource": n.resource, "enforcement": n.enforcement, "reason": n.reason, "urn": n.urn}
            for n in blocked
        ],
        "could_not_run_by_policy": _groups(blocked, "reason"),
        "policies": {name: evaluation.status[name] for name in sorted(evaluation.status)},
        "verdict": verdict(evaluation, mode),
        "estimated_hourly_cost_usd": round(cost_usd, 2),
        "budget_usd_per_hour": budget,
    }


def render_json(data: dict[str, Any]) -> str:
    """The preview's JSON text: what ``--json FILE`` writes (and ``-`` would print)."""
    return json.dumps(data, indent=2) + "\n"


# ---- console ----------------------------------------------------------------------------------

_STYLE = {"mandatory": "bold red", "advisory": "yellow"}


def _label(r: CapturedResource, flags: dict[str, dict[str, int]]) -> Text:
    text = Text.assemble(("+ ", "green"), (r.name, "bold cyan" if not r.custom else ""), " ", (r.type, "dim"))
    for level in ("mandatory", "advisory"):
        n = flags.get(r.urn, {}).get(level, 0)
        if n:
            text.append(f"  {n} {level}", style=_STYLE[level])
    return text


def resource_tree(stack: str, resources: Sequence[CapturedResource], evaluation: Evaluation) -> Tree:
    flags: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for v in evaluation.violations:
        if v.urn:
            flags[v.urn][v.enforcement] += 1
    root = Tree(Text(f"stack {stack}", style="bold"))
    nodes: dict[str | None, Tree] = {}
    for r in plan_order(resources):
        if r.type == STACK_TYPE:
            nodes[r.urn] = root
            continue
        parent = nodes.get(r.parent, root)
        nodes[r.urn] = parent.add(_label(r, flags))
    return root


def _print_groups(console: Console, title: str, groups: list[dict[str, Any]], urns: dict[str, list[str]] | None = None) -> None:
    """``urns``: policy -> the URNs it names, printed under its messages (verbose)."""
    if not groups:
        return
    console.print(Text(title, style="bold"))
    for g in groups:
        head = Text("  ")
        head.append(f"{g['enforcement']:<9} ", style=_STYLE.get(g["enforcement"], ""))
        head.append(g["policy"], style="bold")
        head.append(f"  x{g['count']}", style="dim")
        console.print(head, soft_wrap=True)
        messages = g["messages"]
        for message in messages[:SHOWN_PER_POLICY]:
            console.print(Text(f"      {message}"), soft_wrap=True)
        if len(messages) > SHOWN_PER_POLICY:
            console.print(Text(f"      … and {len(messages) - SHOWN_PER_POLICY} more", style="dim"), soft_wrap=True)
        if g["count"] > 1:
            on = g["resources"]
            listed = ", ".join(on[:8]) + (f", … ({len(on)} in all)" if len(on) > 8 else "")
            console.print(Text(f"      on {listed}", style="dim"), soft_wrap=True)
        for urn in (urns or {}).get(g["policy"], []):
            console.print(Text(f"      {urn}", style="dim"), soft_wrap=True)


def print_plan(console: Console, data: dict[str, Any], resources: Sequence[CapturedResource], evaluation: Evaluation,
               cost: Any, verbose: bool = False) -> None:
    """``verbose``: every URN a violation names, under its policy."""
    console.print(Text(f"mode: {MODE_TEXT.get(data['mode'], data['mode'])}", style="dim"), soft_wrap=True)
    console.print(resource_tree(data["stack"], resources, evaluation))
    console.print(Text.assemble("Resources: ", ("+ " + str(data["summary"]["create"]) + " to create", "green"),
                                f" (strategy {data['strategy']})"))
    urns: dict[str, list[str]] = defaultdict(list)
    for v in data["violations"] if verbose else []:
        if v["urn"] and v["urn"] not in urns[v["policy"]]:
            urns[v["policy"]].append(v["urn"])
    _print_groups(console, "Policy violations", data["violations_by_policy"], urns)
    _print_groups(console, "Could not run (values unknown until the resources exist)", data["could_not_run_by_policy"])
    mandatory = len(evaluation.mandatory)
    console.print(Text(data["verdict"], style="bold red" if mandatory else "bold green"), soft_wrap=True)
    lines = ", ".join(f"{p.name} {p.max_nodes} x {p.instance_type}" for p in cost.pools if p.instance_type)
    budget = data["budget_usd_per_hour"]
    console.print(Text(
        f"estimated hourly cost at max nodes: {data['estimated_hourly_cost_usd']:,.2f} USD"
        + (f" ({lines})" if lines else "") + (f"; budget {budget:,.2f} USD" if budget else "")), soft_wrap=True)
