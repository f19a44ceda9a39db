"""Edge: the IoT policy (pure), the workload manifest (validated against the Kubernetes 1.31 schema)
and the device group under the real SDK mocks: certificates from CSRs by default, an AWS-made key only
on request, and the credentials-provider path to the lakehouse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.edge import (
    EdgeDeviceGroup,
    EdgeDeviceGroupArgs,
    EdgeLake,
    namespace_manifest,
    workload_manifest,
)
from components.edge_credentials import lake_access_policy, trust_policy
from components.iot_policy import THING, actions, device_policy_document, is_least_privilege, resources
from policies.errors import ConfigError
from policies.preview_engine import iot_endpoint
from stacks.config import EdgeConfig, EdgeWorkload
from tests.components.mocks import ACCOUNT, Run, run_program

K8S = "1.31.0"
THING_T = "aws:iot/thing:Thing"
CERT = "aws:iot/certificate:Certificate"
TAGS = {"team": "edge"}
LAKE = EdgeLake(zones=["raw", "models"], bucket_arns={"raw": "arn:aws:s3:::acme-raw-1", "models": "arn:aws:s3:::acme-models-1"},
                kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k-1")
ENDPOINTS = {"aws:iot/getEndpoint:getEndpoint": lambda a: iot_endpoint(a.get("endpointType"), "eu-west-1")}


@pytest.fixture(scope="module")
def csr_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real PEM CSR, as a device would produce it (the key stays here, on the 'device')."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jetson-1")]))
           .sign(key, hashes.SHA256()))
    path = tmp_path_factory.mktemp("csr") / "jetson-1.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


def other_csr() -> str:
    key = ec.generate_private_key(ec.SECP384R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nuc-3")])).sign(key, hashes.SHA384()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def build(edge: dict[str, Any], **extra: Any) -> Run[EdgeDeviceGroup]:
    cfg = EdgeConfig.model_validate(edge)
    args = EdgeDeviceGroupArgs(edge=cfg, prefix="acme", region="eu-west-1", tags=TAGS, **extra)
    return run_program(lambda: EdgeDeviceGroup("edge", args), calls=ENDPOINTS)


@pytest.fixture(scope="module")
def nuc_csr() -> str:
    return other_csr()


@pytest.fixture(scope="module")
def fleet(csr_file: Path, nuc_csr: str) -> Run[EdgeDeviceGroup]:
    return build({
        "group": "shops", "topicPrefix": "plinth/telemetry",
        "devices": [{"name": "jetson-1", "csr": csr_file.name},  # a path, relative to csr_base_dir
                    {"name": "pi-2", "hardware": "raspberry-pi", "generateKeyPair": True},  # the opt-in
                    {"name": "nuc-3", "hardware": "intel-nuc", "csr": nuc_csr, "zones": ["raw"]}],  # inline PEM
        "workload": {"image": "ghcr.io/acme/infer:1.2", "gpus": 1, "kubeconfig": "/dev/null", "context": "edge"},
    }, csr_base_dir=csr_file.parent, lake=LAKE)


# ---- IoT policy (pure) ----------------------------------------------------------------------

def test_device_policy_is_scoped_to_the_connecting_thing_with_real_arns() -> None:
    doc = device_policy_document("eu-west-1", "111122223333", "plinth")
    base = "arn:aws:iot:eu-west-1:111122223333"
    by_action = {a: st["Resource"] for st in doc["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    assert by_action == {
        "iot:Connect": f"{base}:client/{THING}",
        "iot:Publish": f"{base}:topic/plinth/{THING}/*",
        "iot:Receive": f"{base}:topic/plinth/{THING}/*",
        "iot:Subscribe": f"{base}:topicfilter/plinth/{THING}/*",
    }
    assert doc["Statement"][0]["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    assert is_least_privilege(doc)
    assert not any("*" in a for a in actions(doc))
    assert not any(r == "*" or r.endswith(":*") for r in resources(doc))


def test_least_privilege_check_catches_wildcards() -> None:
    doc = device_policy_document("eu-west-1", "111122223333", "plinth")
    doc["Statement"][1]["Action"] = "iot:*"
    assert not is_least_privilege(doc)
    doc = device_policy_document("eu-west-1", "111122223333", "plinth")
    doc["Statement"][0]["Resource"] = "arn:aws:iot:eu-west-1:111122223333:*"
    assert not is_least_privilege(doc)


@pytest.mark.parametrize("prefix", ["plinth/#", "a/+/b", "*", "/lead", "trail/", "x/${iot:ClientId}", ""])
def test_topic_prefix_with_wildcards_or_variables_is_refused(prefix: str) -> None:
    with pytest.raises(ConfigError, match=r"^plinth:edge\.topicPrefix: "):
        device_policy_document("eu-west-1", "111122223333", prefix)


# ---- workload manifest (pure, schema-validated) ---------------------------------------------------

def test_gpu_daemonset_is_valid_kubernetes_and_hardened() -> None:
    wl = EdgeWorkload(image="ghcr.io/acme/infer:1.2", gpus=1, cpu="2", memory="4Gi", max_input_mb=10)
    obj = workload_manifest(wl)
    kubernetes_validate.validate(obj, K8S, strict=True)
    assert obj["kind"] == "DaemonSet" and "replicas" not in obj["spec"]
    pod = obj["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert c["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    assert c["resources"]["limits"] == {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert {"name": "MAX_INPUT_MB", "value": "10"} in c["env"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True and c["securityContext"]["runAsNonRoot"] is True
    assert pod["nodeSelector"] == {"plinth.dev/edge": "true"}
    assert obj["spec"]["selector"]["matchLabels"] == obj["spec"]["template"]["metadata"]["labels"]


def test_cpu_deployment_has_replicas_and_no_gpu_request() -> None:
    wl = EdgeWorkload(name="detector", image="acme/detector:3", kind="Deployment", replicas=2,
                      node_selector={"kubernetes.io/arch": "arm64"})
    obj = workload_manifest(wl, namespace="shop")
    kubernetes_validate.validate(obj, K8S, strict=True)
    kubernetes_validate.validate(namespace_manifest("shop"), K8S, strict=True)
    assert obj["spec"]["replicas"] == 2 and obj["metadata"]["namespace"] == "shop"
    pod = obj["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"] and "tolerations" not in pod


def test_manifest_validation_would_catch_a_schema_mistake() -> None:
    obj = workload_manifest(EdgeWorkload(image="x"))
    obj["spec"]["template"]["spec"]["containers"][0]["resource"] = {}  # typo'd field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(obj, K8S, strict=True)
    with pytest.raises(ConfigError, match=r"^plinth:edge\.workload\.name: "):
        workload_manifest(EdgeWorkload(name="Bad_Name", image="x"))


# ---- device group under mocks ---------------------------------------------------------------------

def test_one_thing_certificate_attachment_and_membership_per_device(fleet: Run[EdgeDeviceGroup]) -> None:
    things = {r.inputs["name"]: r for r in fleet.of_type(THING_T)}
    assert sorted(things) == ["acme-jetson-1", "acme-nuc-3", "acme-pi-2"]
    assert all(t.inputs["thingTypeName"] == "acme-shops" for t in things.values())
    certs = fleet.of_type(CERT)
    assert len(certs) == 3 and all(c.inputs["active"] is True for c in certs)
    cert_arns = {f"arn:aws:iot:us-east-1:{ACCOUNT}:{c.name}" for c in certs}  # what the mocks compute
    atts = fleet.of_type("aws:iot/policyAttachment:PolicyAttachment")
    assert {a.inputs["target"] for a in atts} == cert_arns
    policies = {p.inputs["name"] for p in fleet.of_type("aws:iot/policy:Policy")}
    assert {a.inputs["policy"] for a in atts} == policies == {"acme-shops-device-models-raw", "acme-shops-device-raw"}
    tpas = fleet.of_type("aws:iot/thingPrincipalAttachment:ThingPrincipalAttachment")
    assert {(a.inputs["thing"], a.inputs["principal"]) for a in tpas} == {
        (f"acme-{c.name.removeprefix('edge-')}", f"arn:aws:iot:us-east-1:{ACCOUNT}:{c.name}") for c in certs}
    assert all(a.inputs["thingPrincipalType"] == "EXCLUSIVE_THING" for a in tpas)
    members = fleet.of_type("aws:iot/thingGroupMembership:ThingGroupMembership")
    assert sorted(m.inputs["thingName"] for m in members) == sorted(things)
    assert {m.inputs["thingGroupName"] for m in members} == {"acme-shops"}


def test_certificates_come_from_csrs_and_only_the_opt_in_device_gets_an_aws_key(
        fleet: Run[EdgeDeviceGroup], csr_file: Path, nuc_csr: str) -> None:
    certs = {c.name: c.inputs for c in fleet.of_type(CERT)}
    assert certs["edge-jetson-1"]["csr"] == csr_file.read_text()
    assert certs["edge-nuc-3"]["csr"] == nuc_csr
    assert "csr" not in certs["edge-pi-2"]  # generateKeyPair: AWS makes the pair


def test_each_access_set_gets_a_role_trusted_by_the_credentials_provider_and_its_alias(fleet: Run[EdgeDeviceGroup]) -> None:
    roles = {r.name: r.inputs for r in fleet.of_type("aws:iam/role:Role")}
    assert sorted(roles) == ["edge-lake-models-raw", "edge-lake-raw"]
    for role in roles.values():
        assert json.loads(role["assumeRolePolicy"]) == trust_policy()
        assert role["maxSessionDuration"] == 3600 and TAGS.items() <= role["tags"].items()
    aliases = {a.name: a.inputs for a in fleet.of_type("aws:iot/roleAlias:RoleAlias")}
    assert aliases["edge-lake-raw"]["alias"] == "acme-shops-lake-raw"
    assert aliases["edge-lake-raw"]["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/edge-lake-raw"
    assert all(a["credentialDuration"] == 3600 and a["region"] == "eu-west-1" for a in aliases.values())
    inline = {p.name: json.loads(p.inputs["policy"]) for p in fleet.of_type("aws:iam/rolePolicy:RolePolicy")}
    assert inline["edge-lake-raw"] == lake_access_policy(
        {"raw": "write", "models": "read"}, ("raw",), LAKE.bucket_arns, LAKE.kms_key_arn, "eu-west-1")  # type: ignore[arg-type]
    assert "arn:aws:s3:::acme-models-1" not in json.dumps(inline["edge-lake-raw"])  # nuc-3 never reaches models


def test_iot_policy_allows_assume_role_on_its_own_alias_only(fleet: Run[EdgeDeviceGroup]) -> None:
    docs = {p.inputs["name"]: json.loads(p.inputs["policy"]) for p in fleet.of_type("aws:iot/policy:Policy")}
    base = f"arn:aws:iot:eu-west-1:{ACCOUNT}"
    for name, alias in (("acme-shops-device-raw", "acme-shops-lake-raw"),
                        ("acme-shops-device-models-raw", "acme-shops-lake-models-raw")):
        doc = docs[name]
        assert doc == device_policy_document("eu-west-1", ACCOUNT, "plinth/telemetry",
                                             role_alias_arn=f"{base}:rolealias/{alias}")
        grants = [st for st in doc["Statement"] if st["Action"] == "iot:AssumeRoleWithCertificate"]
        assert [g["Resource"] for g in grants] == [f"{base}:rolealias/{alias}"]
        assert is_least_privilege(doc)
    with pytest.raises(ValueError, match="not a role alias ARN"):
        device_policy_document("eu-west-1", ACCOUNT, "p", role_alias_arn=f"{base}:rolealias/*")


def test_taggable_resources_carry_tags_and_everything_is_pinned_to_region(fleet: Run[EdgeDeviceGroup]) -> None:
    for typ in ("aws:iot/thingType:ThingType", "aws:iot/thingGroup:ThingGroup"):
        assert TAGS.items() <= fleet.one(typ).inputs["tags"].items()
    for typ in ("aws:iot/policy:Policy", "aws:iot/roleAlias:RoleAlias"):
        assert all(TAGS.items() <= r.inputs["tags"].items() for r in fleet.of_type(typ))
    for r in fleet.resources:
        if r.custom and r.type.startswith("aws:") and not r.type.startswith("aws:iam/"):  # IAM is global
            assert r.inputs.get("region") == "eu-west-1", f"{r.type} {r.name}"


def test_outputs_secrets_and_the_endpoints_a_device_needs(fleet: Run[EdgeDeviceGroup]) -> None:
    res = fleet.result
    assert Run.value(res.thing_group_name) == "acme-shops"
    assert Run.value(res.thing_names) == ["acme-jetson-1", "acme-pi-2", "acme-nuc-3"]
    assert sorted(Run.value(res.policy_names)) == ["acme-shops-device-models-raw", "acme-shops-device-raw"]
    assert len(Run.value(res.certificate_arns)) == 3
    assert is_secret(res.private_keys) and is_secret(res.certificate_pems)
    assert sorted(Run.value(res.private_keys)) == ["pi-2"]  # the CSR devices' keys never left them
    assert Run.value(res.role_aliases) == {"jetson-1": "acme-shops-lake-models-raw", "pi-2": "acme-shops-lake-models-raw",
                                          "nuc-3": "acme-shops-lake-raw"}
    # DescribeEndpoint with the type AWS spells iot:CredentialProvider (the mocks refuse any other)
    assert Run.value(res.credentials_endpoint) == "a1b2c3d4e5f6g7.credentials.iot.eu-west-1.amazonaws.com"
    assert Run.value(res.data_endpoint) == "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com"


def is_secret(output: Any) -> bool:
    from pulumi.runtime.sync_await import _sync_await
    return bool(_sync_await(output.is_secret()))


def test_workload_runs_through_its_own_provider_on_the_edge_cluster(fleet: Run[EdgeDeviceGroup]) -> None:
    prov = fleet.one("pulumi:providers:kubernetes")
    assert (prov.inputs["kubeconfig"], prov.inputs["context"]) == ("/dev/null", "edge")
    ds = fleet.one("kubernetes:apps/v1:DaemonSet")
    assert ds.provider.startswith(prov.urn)
    pod = ds.inputs["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"plinth.dev/edge": "true"}
    ns = fleet.one("kubernetes:core/v1:Namespace")
    assert ns.urn in ds.dependencies
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert fleet.result.workload_name == "edge-inference"


def test_without_workload_or_lake_no_kubernetes_and_no_credentials_path() -> None:
    run = build({"devices": [{"name": "a", "generateKeyPair": True}]})
    assert not [r for r in run.resources if r.type.startswith(("kubernetes:", "pulumi:providers:kubernetes"))]
    assert not run.of_type("aws:iam/role:Role") and not run.of_type("aws:iot/roleAlias:RoleAlias")
    doc = json.loads(run.one("aws:iot/policy:Policy").inputs["policy"])
    assert "iot:AssumeRoleWithCertificate" not in actions(doc)
    assert list(Run.value(run.result.private_keys)) == ["a"]
    with pytest.raises(ConfigError, match=r"^plinth:edge\.devices: .*unique"):
        build({"devices": [{"name": "a", "generateKeyPair": True}, {"name": "a", "generateKeyPair": True}]})


def test_a_device_without_csr_must_opt_in_to_an_aws_made_key(csr_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"^plinth:edge\.devices\[0\]\.csr: required: .*generateKeyPair: true"):
        build({"devices": [{"name": "a"}]})
    with pytest.raises(ConfigError, match=r"^plinth:edge\.devices\[0\]\.generateKeyPair: set either csr or generateKeyPair"):
        build({"devices": [{"name": "a", "csr": csr_file.read_text(), "generateKeyPair": True}]})
    # the old field name still reads a path
    run = build({"devices": [{"name": "a", "csrFile": str(csr_file)}]})
    assert run.one(CERT).inputs["csr"] == csr_file.read_text()


def test_device_zones_must_be_lakehouse_zones_the_fleet_may_reach() -> None:
    with pytest.raises(ConfigError, match=r"^plinth:edge\.zoneAccess\.curated: not a lakehouse zone"):
        build({"devices": [{"name": "a", "generateKeyPair": True}], "zoneAccess": {"curated": "read"}}, lake=LAKE)


def test_the_opt_in_warns_naming_the_device(caplog: pytest.LogCaptureFixture, csr_file: Path) -> None:
    with caplog.at_level("WARNING"):
        build({"devices": [{"name": "cam", "generateKeyPair": True}, {"name": "ok", "csr": str(csr_file)}]})
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and warnings[0].startswith("plinth:edge.devices[0].generateKeyPair: ")
    assert "cam's key pair" in warnings[0] and "Pulumi state" in warnings[0]


@pytest.mark.parametrize("group", ["plant:3", "line 1", "a" * 61, ""])
def test_group_names_every_iot_name_must_accept(group: str) -> None:
    with pytest.raises(ConfigError, match=r"^plinth:edge\.group: "):
        build({"group": group, "devices": [{"name": "a", "generateKeyPair": True}]})
