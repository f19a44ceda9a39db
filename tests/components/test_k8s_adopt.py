"""Adopting objects that already exist on the target cluster: refs (pure), what a Patch applies
(validated strict against the Kubernetes schema), and the component under the real SDK mocks choosing
a Patch resource, kept on destroy, for exactly the listed objects.

Why Patch resources and not plain creates: pulumi-kubernetes >= 4.29 creates with a client-side create,
so an object that exists fails with AlreadyExists (CHANGELOG 4.29.0, #2926); a Patch is a Server-Side
Apply, which the provider uses for Patch resources on create (provider/pkg/await/await.go: Creation)."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pulumi_kubernetes as k8s
import pytest

from components.k8s_adopt import PATCHES, ObjectRef, adopted_manifest, check_existing, parse_ref
from components.k8s_gpu import KubernetesGpuEnablement, KubernetesGpuEnablementArgs, manifests
from policies.errors import ConfigError
from stacks.config import KubernetesConfig
from tests.components.mocks import Run, run_program

K8S_VERSION = "1.31.0"
TEAMS = [{"name": "research", "gpus": 16}, {"name": "nlp", "gpus": 8}]
NS, NS_PATCH = "kubernetes:core/v1:Namespace", "kubernetes:core/v1:NamespacePatch"
QUOTA, QUOTA_PATCH = "kubernetes:core/v1:ResourceQuota", "kubernetes:core/v1:ResourceQuotaPatch"
RC, RC_PATCH = "kubernetes:node.k8s.io/v1:RuntimeClass", "kubernetes:node.k8s.io/v1:RuntimeClassPatch"
PC_PATCH = "kubernetes:scheduling.k8s.io/v1:PriorityClassPatch"
RELEASE = "kubernetes:helm.sh/v3:Release"


def config(**kw: Any) -> KubernetesConfig:
    return KubernetesConfig.model_validate({"teams": TEAMS, **kw})


# ---- refs (pure) ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "ref"), [
    ("namespace/research", ObjectRef("Namespace", "", "research")),
    ("Namespace/research", ObjectRef("Namespace", "", "research")),
    ("namespaces/research", ObjectRef("Namespace", "", "research")),
    # what `kubectl get runtimeclass,priorityclass -o name` prints
    ("runtimeclass.node.k8s.io/nvidia", ObjectRef("RuntimeClass", "", "nvidia")),
    ("priorityclass.scheduling.k8s.io/plinth-training", ObjectRef("PriorityClass", "", "plinth-training")),
    ("resourcequota/nlp/gpu-quota", ObjectRef("ResourceQuota", "nlp", "gpu-quota")),
    ("daemonset.apps/gpu-system/nvidia-device-plugin", ObjectRef("DaemonSet", "gpu-system", "nvidia-device-plugin")),
])
def test_refs_are_read_in_kubectl_get_name_form(text: str, ref: ObjectRef) -> None:
    assert parse_ref(text, 0) == ref


@pytest.mark.parametrize(("text", "message"), [
    ("configmap/x", "unknown kind 'configmap'"),
    ("resourcequota/gpu-quota", "write it as resourcequota/<namespace>/<name>"),  # namespace missing
    ("namespace/a/b", "write it as namespace/<name>"),
    ("namespace/", "write it as namespace/<name>"),
])
def test_bad_refs_name_the_entry(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^plinth:kubernetes\.existing\[3\]: ") as err:
        parse_ref(text, 3)
    assert message in str(err.value)


def test_every_kind_plinth_makes_on_a_cluster_can_be_adopted() -> None:
    """A kind added to manifests() without a Patch line would make its refs unusable: caught here."""
    kinds = {o["kind"] for op in (False, True) for o in manifests(config(gpuOperator=op))}
    assert kinds <= set(PATCHES)


def test_existing_must_name_objects_plinth_makes_here_once() -> None:
    objs = manifests(config())
    assert check_existing(["namespace/research", "runtimeclass/nvidia"], objs, gpu_operator=False) == {
        ObjectRef("Namespace", "", "research"), ObjectRef("RuntimeClass", "", "nvidia")}
    with pytest.raises(ConfigError, match=r"^plinth:kubernetes\.existing\[0\]: plinth makes no namespace/vision .*namespace/research"):
        check_existing(["namespace/vision"], objs, gpu_operator=False)
    with pytest.raises(ConfigError, match=r"^plinth:kubernetes\.existing\[1\]: 'Namespace/research' is listed twice"):
        check_existing(["namespace/research", "Namespace/research"], objs, gpu_operator=False)
    with pytest.raises(ConfigError, match=r"existing\[0\]: helmrelease/gpu-operator only applies with kubernetes\.gpuOperator: true"):
        check_existing(["helmrelease/gpu-operator"], objs, gpu_operator=False)


def test_runtime_class_is_not_adoptable_when_the_operator_owns_it() -> None:
    objs = manifests(config(gpuOperator=True))
    with pytest.raises(ConfigError, match=r"existing\[0\]: plinth makes no runtimeclass/nvidia .*the operator owns"):
        check_existing(["runtimeclass.node.k8s.io/nvidia"], objs, gpu_operator=True)


# ---- what a Patch applies (pure, schema-validated) ------------------------------------------------

@pytest.mark.parametrize("operator", [False, True])
def test_every_adopted_manifest_passes_strict_schema_validation(operator: bool) -> None:
    for obj in manifests(config(gpuOperator=operator)):
        kubernetes_validate.validate(adopted_manifest(obj), K8S_VERSION, strict=True)


def test_adopted_namespace_is_labelled_not_claimed_and_not_newly_enforced() -> None:
    team = next(o for o in manifests(config()) if o["kind"] == "Namespace" and o["metadata"]["name"] == "research")
    labels = adopted_manifest(team)["metadata"]["labels"]
    assert "app.kubernetes.io/managed-by" not in labels and labels["plinth.dev/adopted"] == "true"
    # baseline would refuse the next restart of a privileged pod already running there: warn and audit only
    assert "pod-security.kubernetes.io/enforce" not in labels
    assert labels["pod-security.kubernetes.io/warn"] == labels["pod-security.kubernetes.io/audit"] == "baseline"
    assert labels["plinth.dev/team"] == "research"
    assert team["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"  # input untouched
    system = next(o for o in manifests(config()) if o["metadata"]["name"] == "gpu-system")
    # privileged loosens nothing and the device plugin needs it: kept
    assert adopted_manifest(system)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


# ---- the component under the SDK mocks -------------------------------------------------------------

def enable(cfg: KubernetesConfig) -> Run[KubernetesGpuEnablement]:
    def program() -> KubernetesGpuEnablement:
        provider = k8s.Provider("onprem", kubeconfig="{}", context="lab")
        return KubernetesGpuEnablement("onprem-gpu", KubernetesGpuEnablementArgs(provider=provider, config=cfg))

    return run_program(program)


@pytest.fixture(scope="module")
def adopted() -> Run[KubernetesGpuEnablement]:
    return enable(config(existing=["namespace/research", "runtimeclass.node.k8s.io/nvidia",
                                   "priorityclass/plinth-training", "resourcequota/nlp/gpu-quota"]))


def test_listed_objects_become_patches_kept_on_destroy_and_nothing_else_does(adopted: Run[KubernetesGpuEnablement]) -> None:
    patches = [r for r in adopted.resources if r.type.endswith("Patch")]
    assert sorted(r.type for r in patches) == sorted([NS_PATCH, RC_PATCH, PC_PATCH, QUOTA_PATCH])
    assert all(r.retain_on_delete for r in patches)  # destroy leaves someone else's object as it is
    assert not any(r.retain_on_delete for r in adopted.resources if r.custom and r not in patches)
    # the adopted ones are not also created; the rest still are
    # (registration order is asynchronous: compare sorted)
    assert sorted(r.inputs["metadata"]["name"] for r in adopted.of_type(NS)) == ["gpu-system", "nlp"]
    assert adopted.of_type(RC) == []
    assert [r.inputs["metadata"]["namespace"] for r in adopted.of_type(QUOTA)] == ["research"]
    # no force: a field another manager owns with another value fails the update instead of being taken
    for r in patches:
        assert "pulumi.com/patchForce" not in (r.inputs["metadata"].get("annotations") or {})
    assert sorted(adopted.result.adopted) == ["namespace/research", "priorityclass/plinth-training",
                                              "resourcequota/nlp/gpu-quota", "runtimeclass/nvidia"]


def test_patches_carry_plinths_fields_through_the_cluster_provider(adopted: Run[KubernetesGpuEnablement]) -> None:
    provider = adopted.one("pulumi:providers:kubernetes")
    rc = adopted.one(RC_PATCH)
    assert rc.inputs["handler"] == "nvidia" and rc.provider.startswith(provider.urn)
    assert adopted.one(QUOTA_PATCH).inputs["spec"] == {"hard": {"requests.nvidia.com/gpu": "8"}}
    assert adopted.one(PC_PATCH).inputs["value"] == 10_000
    ns = adopted.one(NS_PATCH)
    assert ns.inputs["metadata"]["labels"]["plinth.dev/adopted"] == "true"
    # the quota plinth creates inside the adopted namespace still waits for it
    quota = adopted.one(QUOTA)
    assert ns.urn in quota.dependencies


def test_an_installed_gpu_operator_is_used_not_installed_again() -> None:
    run = enable(config(gpuOperator=True, existing=["helmrelease/gpu-operator"]))
    assert run.of_type(RELEASE) == [] and run.of_type(RC) == [] and run.of_type(RC_PATCH) == []
    assert len(enable(config(gpuOperator=True)).of_type(RELEASE)) == 1  # without the entry: installed


def test_bad_existing_entry_fails_before_any_resource() -> None:
    with pytest.raises(ConfigError, match=r"^plinth:kubernetes\.existing\[0\]: plinth makes no namespace/ops"):
        enable(config(existing=["namespace/ops"]))
