"""No security-group ingress of SSH (22) or of all ports from anywhere (0.0.0.0/0, ::/0).

Three ways to write ingress in pulumi-aws v7, all checked: inline ``ingress`` blocks on
``aws:ec2/securityGroup:SecurityGroup``, ``aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule``
(one CIDR each) and ``aws:ec2/securityGroupRule:SecurityGroupRule`` with ``type: ingress``.
GPU nodes are reached through SSM (the node role carries AmazonSSMManagedInstanceCore), not port 22.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules._base import resource_policy
from policies.rules._props import as_list, get, plain, require_known

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
SSH = 22


def _num(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def open_ingress_problem(protocol: Any, from_port: Any, to_port: Any, cidrs: list[Any]) -> str | None:
    """Why an ingress permission is too open, or None. Ports/protocol as the engine sends them."""
    open_to = sorted({c for c in cidrs if c in OPEN_CIDRS})
    if not open_to:
        return None
    proto = str(protocol).lower() if protocol is not None else "-1"
    lo, hi = _num(from_port), _num(to_port)
    if proto in ("-1", "all"):
        return f"all traffic from {', '.join(open_to)}"
    if proto not in ("tcp", "6"):
        return None  # e.g. ICMP or UDP from anywhere: not this rule's concern
    if lo is not None and hi is not None and lo <= 0 and hi >= 65535:
        return f"all TCP ports from {', '.join(open_to)}"
    if lo is not None and hi is not None and lo <= SSH <= hi:
        return f"SSH (port {SSH}) from {', '.join(open_to)}"
    return None


def ingress_problems(resource_type: str, props: dict[str, Any]) -> list[str]:
    if resource_type == SECURITY_GROUP:
        rules = get(props, "ingress", default=[])
        require_known(rules, "ingress")
        out = []
        for rule in as_list(rules):
            cidrs = as_list(get(rule, "cidrBlocks")) + as_list(get(rule, "ipv6CidrBlocks"))
            problem = open_ingress_problem(get(rule, "protocol"), get(rule, "fromPort"), get(rule, "toPort"), cidrs)
            if problem:
                out.append(problem)
        return out
    if resource_type == INGRESS_RULE:
        cidrs = [get(props, "cidrIpv4"), get(props, "cidrIpv6")]
        problem = open_ingress_problem(get(props, "ipProtocol"), get(props, "fromPort"), get(props, "toPort"), cidrs)
        return [problem] if problem else []
    if resource_type == SG_RULE and get(props, "type") == "ingress":
        cidrs = as_list(get(props, "cidrBlocks")) + as_list(get(props, "ipv6CidrBlocks"))
        problem = open_ingress_problem(get(props, "protocol"), get(props, "fromPort"), get(props, "toPort"), cidrs)
        return [problem] if problem else []
    return []


def _check_ingress(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = plain(args.props)
    for problem in ingress_problems(args.resource_type, props):
        report(f"{args.name}: ingress allows {problem}; use SSM Session Manager or a narrow CIDR", None)


POLICIES = [
    resource_policy("security-group-no-open-ingress",
                    "Security groups must not allow SSH or all ports from 0.0.0.0/0 or ::/0.", _check_ingress, "mandatory"),
]
