"""Node launch templates keep pods away from the node's IAM role: IMDSv2 only, hop limit 1.

A pod sits one network hop behind its node, so with ``httpPutResponseHopLimit`` 1 the IMDSv2 token
never reaches it and it cannot read the node role's credentials; workloads take credentials from
EKS Pod Identity (or IRSA) instead. What needs IMDS from a pod runs in the host network namespace
(vpc-cni's aws-node, kube-proxy, the Pod Identity agent, the EFA device plugin) and still reaches it.
Reference: EKS user guide, "Security best practices" (managed nodes with a custom launch template:
"Metadata version – V2 only (token required)", "Metadata response hop limit – 1"); AWS Security Hub
control AutoScaling.4 (hop limit above 1).
"""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules._base import resource_policy
from policies.rules._props import get, plain, require_known

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
HOP_LIMIT = 1


def imds_problems(options: object) -> list[str]:
    """What in a launch template's ``metadataOptions`` lets a pod reach the instance role."""
    if not isinstance(options, dict):
        return ["no metadataOptions: the AMI's defaults apply (EKS accelerated and AL2023 AMIs allow 2 hops, so pods reach IMDS)"]
    endpoint = require_known(get(options, "httpEndpoint", default="enabled"), "metadataOptions", "httpEndpoint")
    if endpoint == "disabled":
        return []  # no metadata service at all
    tokens = require_known(get(options, "httpTokens"), "metadataOptions", "httpTokens")
    hops = require_known(get(options, "httpPutResponseHopLimit"), "metadataOptions", "httpPutResponseHopLimit")
    problems = []
    if tokens != "required":
        problems.append(f"httpTokens is {tokens or 'unset'} (IMDSv1 answers without a token, from any hop)")
    if hops is None or hops != HOP_LIMIT:
        shown = "unset" if hops is None else f"{hops:g}" if isinstance(hops, (int, float)) else str(hops)
        problems.append(f"httpPutResponseHopLimit is {shown}, not {HOP_LIMIT}")
    return problems


def _check_imds(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    problems = imds_problems(get(plain(args.props), "metadataOptions"))
    if problems:
        report(f"launch template {args.name}: {'; '.join(problems)}; pods could take the node role's credentials. "
               "Set metadata_options http_tokens='required', http_put_response_hop_limit=1 and give workloads "
               "EKS Pod Identity", None)


POLICIES = [
    resource_policy("launch-template-imds-hop-limit",
                    "Launch templates must require IMDSv2 with a hop limit of 1 (pods can't use the node role).",
                    _check_imds, "mandatory"),
]
