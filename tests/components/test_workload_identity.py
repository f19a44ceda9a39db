"""Lakehouse workload identities: a Pod Identity role per service account, scoped per zone, the KMS
key usable only through S3."""

from __future__ import annotations

import json
from typing import Any

from components.workload_identity import LakehouseAccessArgs, LakehouseWorkloadAccess, access_policy
from stacks.config import LakehouseAccess
from tests.components.mocks import ACCOUNT, run_program

BUCKETS = {z: f"arn:aws:s3:::acme-{z}-x" for z in ("raw", "curated", "features", "models")}
DBS = {z: f"acme_{z}" for z in BUCKETS}
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234"


def policy(**entry: Any) -> dict[str, Any]:
    e = LakehouseAccess.model_validate({"namespace": "research", "serviceAccount": "trainer", **entry})
    return access_policy(e, BUCKETS, DBS, KEY, "us-east-1", "123456789012")


def statement(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in doc["Statement"] if s["Sid"] == sid)


def test_reader_reads_its_zones_only_and_cannot_write() -> None:
    doc = policy(read=["raw", "curated"])
    assert statement(doc, "ReadZones")["Resource"] == [f"{BUCKETS['raw']}/*", f"{BUCKETS['curated']}/*"]
    assert statement(doc, "ListZones")["Resource"] == [BUCKETS["raw"], BUCKETS["curated"]]
    actions = [a for s in doc["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not any(a in actions for a in ("s3:PutObject", "s3:DeleteObject", "kms:GenerateDataKey", "glue:CreateTable"))
    assert not any(BUCKETS["models"] in json.dumps(s) for s in doc["Statement"])


def test_kms_key_only_through_s3_in_the_region() -> None:
    kms = statement(policy(read=["raw"]), "DecryptViaS3")
    assert kms["Action"] == ["kms:Decrypt"] and kms["Resource"] == KEY
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    assert statement(policy(write=["models"]), "DecryptViaS3")["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_writer_writes_its_zones_and_their_catalog_tables() -> None:
    doc = policy(read=["features"], write=["models"])
    assert statement(doc, "WriteZones")["Resource"] == [f"{BUCKETS['models']}/*"]
    assert f"{BUCKETS['models']}/*" in statement(doc, "ReadZones")["Resource"]  # write implies read
    glue = statement(doc, "WriteCatalog")["Resource"]
    assert "arn:aws:glue:us-east-1:123456789012:table/acme_models/*" in glue
    assert not any("acme_features" in arn for arn in glue)


def test_component_binds_one_role_per_service_account() -> None:
    access = [LakehouseAccess.model_validate(e) for e in (
        {"namespace": "research", "serviceAccount": "trainer", "read": ["raw"], "write": ["models"]},
        {"namespace": "serving", "serviceAccount": "inference", "read": ["models"]})]

    run = run_program(lambda: LakehouseWorkloadAccess("lake-access", LakehouseAccessArgs(
        cluster_name="acme-eks", access=access, bucket_arns=BUCKETS, glue_database_names=DBS, kms_key_arn=KEY,
        region="us-east-1")))
    assocs = {(a.inputs["namespace"], a.inputs["serviceAccount"]): a.inputs
              for a in run.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")}
    assert set(assocs) == {("research", "trainer"), ("serving", "inference")}
    roles = {r.urn: r for r in run.of_type("aws:iam/role:Role")}
    trusted = set()
    for role in roles.values():
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
        assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
        # Only this cluster's one service account (Pod Identity session tags): another association in
        # the account pointed at the role is refused by STS.
        tags = trust["Condition"]["StringEquals"]
        assert tags["aws:SourceAccount"] == ACCOUNT and tags["aws:RequestTag/eks-cluster-name"] == "acme-eks"
        trusted.add((tags["aws:RequestTag/kubernetes-namespace"], tags["aws:RequestTag/kubernetes-service-account"]))
    assert trusted == set(assocs)
    policies = {p.name: json.loads(p.inputs["policy"]) for p in run.of_type("aws:iam/rolePolicy:RolePolicy")}
    serving = policies["lake-access-serving-inference"]
    assert statement(serving, "ReadZones")["Resource"] == [f"{BUCKETS['models']}/*"]
    assert "WriteZones" not in {s["Sid"] for s in serving["Statement"]}
    assert set(run.value(run.result.role_arns)) == {"research/trainer", "serving/inference"}
