"""Least-privilege AWS IoT Core policy for a device group (pure: returns a dict).

Each device may only connect with its own thing name as MQTT client id, and only publish,
receive and subscribe under ``<topic_prefix>/<its thing name>/…``. The ``${iot:Connection.Thing.*}``
policy variables are filled in by IoT Core per connection, so one policy serves the whole group
without letting one device read or impersonate another. ``iot:Connection.Thing.IsAttached`` makes
the certificate valid only for the thing it is attached to.

With ``role_alias_arn`` the device may also call the IoT credentials provider, for that one role alias
only (``iot:AssumeRoleWithCertificate``; :mod:`components.edge_credentials`).

Usage::

    doc = device_policy_document(region="eu-west-1", account_id="123456789012", topic_prefix="plinth")
    aws.iot.Policy("fleet", policy=json.dumps(doc))
"""

from __future__ import annotations

import re
from typing import Any

from policies.errors import ConfigError

THING = "${iot:Connection.Thing.ThingName}"
# MQTT wildcards (+ #), IAM wildcards (* ?) and policy-variable syntax ($ { }) in the prefix would
# widen the grant beyond the device's own subtree.
_TOPIC_PREFIX = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")


def check_topic_prefix(topic_prefix: str) -> str:
    if not _TOPIC_PREFIX.match(topic_prefix):
        raise ConfigError(
            f"plinth:edge.topicPrefix: must be '/'-separated words of letters, digits, '_' or '-' "
            f"(no wildcards, no leading or trailing '/'; got {topic_prefix!r})"
        )
    return topic_prefix


def device_policy_document(region: str, account_id: str, topic_prefix: str, partition: str = "aws",
                           role_alias_arn: str | None = None) -> dict[str, Any]:
    check_topic_prefix(topic_prefix)
    base = f"arn:{partition}:iot:{region}:{account_id}"
    doc: dict[str, Any] = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ConnectAsOwnThing",
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{base}:client/{THING}",
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {
                "Sid": "PublishReceiveOwnTopics",
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:Receive"],
                "Resource": f"{base}:topic/{topic_prefix}/{THING}/*",
            },
            {
                "Sid": "SubscribeOwnTopics",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": f"{base}:topicfilter/{topic_prefix}/{THING}/*",
            },
        ],
    }
    if role_alias_arn is not None:
        if not role_alias_arn.startswith(f"{base}:rolealias/") or role_alias_arn.endswith(("/", "*")):
            raise ValueError(f"not a role alias ARN of this account and region: {role_alias_arn!r}")
        doc["Statement"].append({
            "Sid": "CredentialsForOwnRoleAlias",
            "Effect": "Allow",
            "Action": "iot:AssumeRoleWithCertificate",
            "Resource": role_alias_arn,
        })
    return doc


def actions(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for st in doc["Statement"]:
        a = st["Action"]
        out.extend([a] if isinstance(a, str) else a)
    return out


def resources(doc: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for st in doc["Statement"]:
        r = st["Resource"]
        out.extend([r] if isinstance(r, str) else r)
    return out


def is_least_privilege(doc: dict[str, Any]) -> bool:
    """No wildcard action, no all-resources grant (what a CrossGuard rule may also check)."""
    if any("*" in a for a in actions(doc)):
        return False
    return not any(r == "*" or r.endswith(":*") for r in resources(doc))
