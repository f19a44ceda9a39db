"""IoT policies grant least privilege: no ``*`` / ``iot:*`` actions, no ``*`` resources.

A device policy should name the device's own client id and topic prefix; ``iot:*`` or a resource of
``*`` (or a whole resource kind such as ``topic/*``) lets one stolen device certificate act as every
device in the account.
"""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules._base import resource_policy
from policies.rules._props import as_list, get, parse_json_document, plain, statements

POLICY = "aws:iot/policy:Policy"
# arn:aws:iot:<region>:<account>:<kind>/<name>; the resource part being "*" or "<kind>/*" covers everything
_WHOLE_KIND = re.compile(r"^arn:[^:]+:iot:[^:]*:[^:]*:(\*|[a-zA-Z]+/\*)$")


def wildcard_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    for i, st in enumerate(statements(doc)):
        if st.get("Effect") != "Allow":
            continue
        sid = st.get("Sid") or f"#{i}"
        for action in as_list(st.get("Action")):
            if action == "*" or (isinstance(action, str) and action.endswith(":*")):
                problems.append(f"statement {sid} allows action {action!r}")
        for resource in as_list(st.get("Resource")):
            if resource == "*" or (isinstance(resource, str) and _WHOLE_KIND.match(resource)):
                problems.append(f"statement {sid} applies to resource {resource!r}")
    return problems


def _check_iot(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != POLICY:
        return
    doc = parse_json_document(get(plain(args.props), "policy"), "policy")
    if doc is None:
        report(f"IoT policy {args.name}: has no policy document", None)
        return
    for problem in wildcard_problems(doc):
        report(f"IoT policy {args.name}: {problem}; scope it to the device's client id and topics", None)


POLICIES = [
    resource_policy("iot-policy-no-wildcards", "IoT policies must not use '*' actions or resources.", _check_iot, "mandatory"),
]
