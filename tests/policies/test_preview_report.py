"""The preview's plan rendering: stable order, masking, grouping, the verdict line."""

from __future__ import annotations

import io
import json
import random

from pulumi_policy.proxy import UNKNOWN_STRING_VALUE
from rich.console import Console

from policies.evaluate import (
    COULD_NOT_RUN,
    DISABLED,
    RAN,
    CapturedResource,
    Evaluation,
    NotEvaluated,
    Violation,
)
from policies.preview_report import mask, plan_order, print_plan, render_json, report_data, verdict

SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}


def res(name: str, type_: str, parent: str | None = None, inputs: dict | None = None) -> CapturedResource:
    return CapturedResource(urn=f"urn:{type_}::{name}", type=type_, name=name, custom=not type_.startswith("plinth:"),
                            parent=parent, inputs=inputs or {})


def tree() -> list[CapturedResource]:
    stack = res("plinth-dev", "pulumi:pulumi:Stack")
    lake = res("lake", "plinth:data:Lakehouse", stack.urn)
    net = res("net", "plinth:network:AiNetwork", stack.urn)
    return [stack, lake, net,
            res("lake-raw", "aws:s3/bucket:Bucket", lake.urn), res("lake-key", "aws:kms/key:Key", lake.urn),
            res("lake-models", "aws:s3/bucket:Bucket", lake.urn), res("net-vpc", "aws:ec2/vpc:Vpc", net.urn),
            res("net-b", "aws:ec2/subnet:Subnet", net.urn), res("net-a", "aws:ec2/subnet:Subnet", net.urn)]


def test_plan_order_is_parent_chain_then_type_then_name_whatever_the_registration_order() -> None:
    expected = ["plinth-dev", "lake", "lake-key", "lake-models", "lake-raw", "net", "net-a", "net-b", "net-vpc"]
    for seed in range(5):
        shuffled = tree()
        random.Random(seed).shuffle(shuffled)
        assert [r.name for r in plan_order(shuffled)] == expected


def test_masking_secrets_secret_shaped_values_and_unknowns() -> None:
    wire = {
        "kubeconfig": {**SECRET_SIG, "value": "apiVersion: v1 …"},  # a Pulumi secret
        "password": "hunter2",  # secret-shaped by name
        "clientSecret": "abc",
        "userData": "-----BEGIN RSA PRIVATE KEY-----\nMIIE…",  # secret-shaped by value
        "accessKey": "AKIAIOSFODNN7EXAMPLE",
        "bucket": UNKNOWN_STRING_VALUE,
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},  # not secrets
        "tags": {"z": "1", "a": "2"},
    }
    out = mask(wire)
    assert out["kubeconfig"] == out["password"] == out["clientSecret"] == out["userData"] == out["accessKey"] == "[secret]"
    assert out["bucket"] == "[unknown]"
    assert out["metadataOptions"] == {"httpPutResponseHopLimit": 1, "httpTokens": "required"}
    assert list(out["tags"]) == ["a", "z"]


def _evaluation() -> Evaluation:
    ev = Evaluation()
    ev.status.update({"required-tags": RAN, "s3-policy-tls-only": COULD_NOT_RUN, "eks-secrets-encryption": RAN,
                      "cost-within-budget": DISABLED})
    for name in ("b", "a", "c"):
        ev.violations.append(Violation("required-tags", "advisory", f"{name}: missing required tags cost-center",
                                       urn=f"urn:x::{name}", resource=name))
    ev.not_evaluated.append(NotEvaluated("s3-policy-tls-only", "mandatory",
                                         "cannot be evaluated during preview: policy unknown", resource="lake-raw"))
    return ev


def test_violations_are_grouped_per_policy_with_counts_and_the_verdict_never_overstates() -> None:
    ev = _evaluation()
    data = report_data("dev", "cloud-first", "first-preview", tree(), ev, 1.5, None)
    [group] = data["violations_by_policy"]
    assert group["policy"] == "required-tags" and group["count"] == 3 and group["resources"] == ["a", "b", "c"]
    assert [v["resource"] for v in data["violations"]] == ["a", "b", "c"]
    assert data["could_not_run_by_policy"][0]["count"] == 1
    assert data["verdict"] == verdict(ev, "first-preview") == (
        "0 mandatory violations among the 2 policies that could run; 1 could not run before creation; 1 disabled")
    assert data["summary"] == {"create": 8} and data["resources"][0]["name"] == "lake"
    json.loads(render_json(data))


def test_console_plan_marks_creates_groups_violations_and_escapes_names() -> None:
    resources = [*tree(), res("[bold]x[/]", "aws:s3/bucket:Bucket")]  # a name is data, never markup
    ev = _evaluation()
    data = report_data("dev", "cloud-first", "first-preview", resources, ev, 0.0, None)
    buf = io.StringIO()
    print_plan(Console(file=buf, width=200), data, resources, ev, type("Cost", (), {"pools": []})())
    text = buf.getvalue()
    assert "+ lake-raw aws:s3/bucket:Bucket" in text and "[bold]x[/]" in text
    assert "Resources: + 9 to create" in text
    assert "required-tags  x3" in text and "on a, b, c" in text
    assert "1 could not run before creation" in text
