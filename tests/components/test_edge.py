"""Edge: the IoT policy (pure), the workload manifest (validated against the Kubernetes 1.31 schema)
and the device group under the real SDK mocks."""

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
    namespace_manifest,
    read_csr,
    workload_manifest,
)
from components.iot_policy import THING, actions, device_policy_document, is_least_privilege, resources
from policies.errors import ConfigError
from stacks.config import EdgeConfig, EdgeWorkload
from tests.components.mocks import ACCOUNT, Run, run_program

K8S = "1.31.0"
THING_T = "aws:iot/thing:Thing"
CERT = "aws:iot/certificate:Certificate"
TAGS = {"team": "edge"}


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


def build(edge: dict[str, Any], **extra: Any) -> Run[EdgeDeviceGroup]:
    cfg = EdgeConfig.model_validate(edge)
    args = EdgeDeviceGroupArgs(edge=cfg, prefix="acme", region="eu-west-1", tags=TAGS, **extra)
    return run_program(lambda: EdgeDeviceGroup("edge", args))


@pytest.fixture(scope="module")
def fleet(csr_file: Path) -> Run[EdgeDeviceGroup]:
    return build({
        "group": "shops", "topicPrefix": "plinth/telemetry",
        "devices": [{"name": "jetson-1", "csrFile": str(csr_file)}, {"name": "pi-2", "hardware": "raspberry-pi"},
                    {"name": "nuc-3", "hardware": "intel-nuc"}],
        "workload": {"image": "ghcr.io/acme/infer:1.2", "gpus": 1, "kubeconfig": "/dev/null", "context": "edge"},
    })


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
    pol = fleet.one("aws:iot/policy:Policy")
    atts = fleet.of_type("aws:iot/policyAttachment:PolicyAttachment")
    assert {a.inputs["target"] for a in atts} == cert_arns
    assert {a.inputs["policy"] for a in atts} == {pol.inputs["name"]}
    tpas = fleet.of_type("aws:iot/thingPrincipalAttachment:ThingPrincipalAttachment")
    assert {(a.inputs["thing"], a.inputs["principal"]) for a in tpas} == {
        (f"acme-{c.name.removeprefix('edge-')}", f"arn:aws:iot:us-east-1:{ACCOUNT}:{c.name}") for c in certs}
    assert all(a.inputs["thingPrincipalType"] == "EXCLUSIVE_THING" for a in tpas)
    members = fleet.of_type("aws:iot/thingGroupMembership:ThingGroupMembership")
    assert sorted(m.inputs["thingName"] for m in members) == sorted(things)
    assert {m.inputs["thingGroupName"] for m in members} == {"acme-shops"}


def test_csr_device_is_signed_from_its_csr_and_others_get_aws_keys(fleet: Run[EdgeDeviceGroup], csr_file: Path) -> None:
    certs = {c.name: c.inputs for c in fleet.of_type(CERT)}
    assert certs["edge-jetson-1"]["csr"] == csr_file.read_text()
    assert "csr" not in certs["edge-pi-2"] and "csr" not in certs["edge-nuc-3"]


def test_policy_document_uses_account_region_and_no_wildcards(fleet: Run[EdgeDeviceGroup]) -> None:
    pol = fleet.one("aws:iot/policy:Policy").inputs
    doc = json.loads(pol["policy"])
    assert doc == device_policy_document("eu-west-1", ACCOUNT, "plinth/telemetry")
    assert is_least_privilege(doc)
    assert TAGS.items() <= pol["tags"].items()


def test_taggable_resources_carry_tags_and_everything_is_pinned_to_region(fleet: Run[EdgeDeviceGroup]) -> None:
    for typ in ("aws:iot/thingType:ThingType", "aws:iot/thingGroup:ThingGroup", "aws:iot/policy:Policy"):
        assert TAGS.items() <= fleet.one(typ).inputs["tags"].items()
    for r in fleet.resources:
        if r.custom and r.type.startswith("aws:"):
            assert r.inputs.get("region") == "eu-west-1", f"{r.type} {r.name}"


def test_outputs_and_secrets(fleet: Run[EdgeDeviceGroup]) -> None:
    res = fleet.result
    assert Run.value(res.thing_group_name) == "acme-shops"
    assert Run.value(res.thing_names) == ["acme-jetson-1", "acme-pi-2", "acme-nuc-3"]
    assert Run.value(res.policy_name) == "acme-shops-device"
    assert len(Run.value(res.certificate_arns)) == 3
    assert is_secret(res.private_keys) and is_secret(res.certificate_pems)
    assert sorted(Run.value(res.private_keys)) == ["nuc-3", "pi-2"]  # no key for the CSR device: it never left it


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


def test_without_workload_no_kubernetes_resources_and_duplicate_devices_refused() -> None:
    run = build({"devices": [{"name": "a"}]})
    assert not [r for r in run.resources if r.type.startswith(("kubernetes:", "pulumi:providers:kubernetes"))]
    assert list(Run.value(run.result.private_keys)) == ["a"]
    with pytest.raises(ConfigError, match=r"^plinth:edge\.devices: .*unique"):
        build({"devices": [{"name": "a"}, {"name": "a"}]})


def test_unreadable_or_non_csr_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^plinth:edge\.devices\[0\]\.csrFile: cannot read"):
        read_csr(str(tmp_path / "missing.csr"), 0)
    bad = tmp_path / "key.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\n...\n")
    with pytest.raises(ConfigError, match=r"^plinth:edge\.devices\[2\]\.csrFile: .* not a PEM certificate request"):
        read_csr("key.pem", 2, base=tmp_path)
