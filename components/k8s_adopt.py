"""Adopting objects that already exist on a cluster plinth did not create (hybrid's on-prem cluster).

Since pulumi-kubernetes 4.29 a new resource is created with a client-side create: an object that is
already there fails ``pulumi up`` with AlreadyExists instead of being silently taken over (CHANGELOG
4.29.0, #2926). The provider's error lists the ways out; plinth picks one per situation:

- **Patch resources** (``NamespacePatch``, ``RuntimeClassPatch``, ``PriorityClassPatch``,
  ``ResourceQuotaPatch``, ``DaemonSetPatch``) for every object listed in
  ``plinth:kubernetes.existing``. A Patch is a Server-Side Apply with its own field manager: it adds
  plinth's fields to the live object and owns only those. A field another manager owns with a
  different value is a *conflict* and fails the update (plinth never sets ``pulumi.com/patchForce``:
  forcing would silently take a team's quota or a namespace's admission level away from its owner).
  Immutable fields that differ (a RuntimeClass ``handler``, a PriorityClass ``value``) are refused by
  the API server. Either way ``pulumi preview`` (a dry-run apply) already shows it.
- **retainOnDelete** on every adopted object: ``pulumi destroy`` leaves it exactly as it is. Deleting a
  Patch would otherwise relinquish plinth's fields, which the provider cannot do for a field the API
  requires (handler, value) and which would drop a quota a team relies on.
- Not ``upsertExistingObjects`` on the provider: it adopts *everything* silently, and ``pulumi
  destroy`` would then delete objects (team namespaces with their workloads) plinth never created.
- Not ``import``: it fails unless plinth's inputs match the live object field for field, and a
  destroy deletes the imported object.
- The NVIDIA GPU Operator already installed: ``helmrelease/gpu-operator`` in ``existing``; plinth then
  neither installs the chart (a second release fails on the operator's own objects) nor creates the
  ``nvidia`` RuntimeClass (the operator's ClusterPolicy controller owns that one either way).

What a Patch sets on an adopted object differs from what a fresh object gets (:func:`adopted_manifest`):
no ``app.kubernetes.io/managed-by: plinth`` (it is not plinth's), a ``plinth.dev/adopted`` label
instead, and a Pod Security level stricter than ``privileged`` becomes ``warn``/``audit`` rather than
``enforce``: enforcing on a namespace that already runs pods would refuse their next restart.

Refs are written like ``kubectl get -o name`` prints them (``namespace/research``,
``runtimeclass.node.k8s.io/nvidia``), with the namespace in the middle for namespaced kinds
(``resourcequota/nlp/gpu-quota``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from policies.errors import ConfigError

MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
ADOPTED_LABEL = {"plinth.dev/adopted": "true"}
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"
GPU_OPERATOR_REF = "helmrelease/gpu-operator"


@dataclass(frozen=True, order=True)
class ObjectRef:
    kind: str  # canonical Kubernetes kind, e.g. "RuntimeClass"
    namespace: str  # "" for cluster-scoped objects
    name: str

    def __str__(self) -> str:
        scope = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind.lower()}/{scope}{self.name}"


def _namespace(res_name: str, obj: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.Resource:
    return k8s.core.v1.NamespacePatch(res_name, metadata=obj["metadata"], opts=opts)


def _runtime_class(res_name: str, obj: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.Resource:
    return k8s.node.v1.RuntimeClassPatch(res_name, metadata=obj["metadata"], handler=obj["handler"], opts=opts)


def _priority_class(res_name: str, obj: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.Resource:
    return k8s.scheduling.v1.PriorityClassPatch(
        res_name, metadata=obj["metadata"], value=obj["value"], global_default=obj["globalDefault"],
        preemption_policy=obj["preemptionPolicy"], description=obj["description"], opts=opts)


def _resource_quota(res_name: str, obj: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.Resource:
    return k8s.core.v1.ResourceQuotaPatch(res_name, metadata=obj["metadata"], spec=obj["spec"], opts=opts)


def _daemon_set(res_name: str, obj: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.Resource:
    return k8s.apps.v1.DaemonSetPatch(res_name, metadata=obj["metadata"], spec=obj["spec"], opts=opts)


# kind -> (namespaced, Patch resource factory). One table: a kind plinth starts making on clusters it
# did not create gets a line here, or refs to it are refused.
PATCHES: dict[str, tuple[bool, Callable[[str, dict[str, Any], pulumi.ResourceOptions], pulumi.Resource]]] = {
    "Namespace": (False, _namespace),
    "RuntimeClass": (False, _runtime_class),
    "PriorityClass": (False, _priority_class),
    "ResourceQuota": (True, _resource_quota),
    "DaemonSet": (True, _daemon_set),
}
# what users may type for a kind: `kubectl get -o name` output, the plain kind, its plural
_KIND_NAMES = {
    **{k.lower(): k for k in PATCHES},
    **{f"{k.lower()}s": k for k in PATCHES if k != "Namespace"},
    "namespaces": "Namespace",
    "runtimeclass.node.k8s.io": "RuntimeClass",
    "priorityclass.scheduling.k8s.io": "PriorityClass",
    "daemonset.apps": "DaemonSet",
}


def ref_of(obj: dict[str, Any]) -> ObjectRef:
    meta = obj["metadata"]
    return ObjectRef(obj["kind"], meta.get("namespace", ""), meta["name"])


def parse_ref(text: str, index: int) -> ObjectRef:
    """``"resourcequota/nlp/gpu-quota"`` -> ObjectRef("ResourceQuota", "nlp", "gpu-quota")."""
    where = f"plinth:kubernetes.existing[{index}]"
    parts = text.strip().split("/")
    kind = _KIND_NAMES.get(parts[0].lower())
    if kind is None:
        known = ", ".join(sorted(k.lower() for k in PATCHES))
        raise ConfigError(f"{where}: {text!r}: unknown kind {parts[0]!r} (plinth adopts: {known}; and {GPU_OPERATOR_REF})")
    namespaced = PATCHES[kind][0]
    if len(parts) != (3 if namespaced else 2) or not all(parts[1:]):
        form = f"{kind.lower()}/<namespace>/<name>" if namespaced else f"{kind.lower()}/<name>"
        raise ConfigError(f"{where}: {text!r}: write it as {form}")
    return ObjectRef(kind, parts[1] if namespaced else "", parts[-1])


def check_existing(existing: Iterable[str], objs: list[dict[str, Any]], gpu_operator: bool) -> set[ObjectRef]:
    """The refs in ``plinth:kubernetes.existing`` that plinth will patch instead of create. Every ref
    must name an object plinth makes here (a typo would otherwise leave a create that fails), once."""
    made = {ref_of(o) for o in objs}
    adopted: set[ObjectRef] = set()
    seen: set[str] = set()
    for i, text in enumerate(existing):
        where = f"plinth:kubernetes.existing[{i}]"
        key = text.strip().lower()
        if key in seen:
            raise ConfigError(f"{where}: {text!r} is listed twice")
        seen.add(key)
        if key == GPU_OPERATOR_REF:
            if not gpu_operator:
                raise ConfigError(f"{where}: {GPU_OPERATOR_REF} only applies with kubernetes.gpuOperator: true")
            continue
        ref = parse_ref(text, i)
        if ref not in made:
            hint = (" (with gpuOperator: true the operator owns RuntimeClass nvidia: plinth makes none)"
                    if ref.kind == "RuntimeClass" and gpu_operator else "")
            makes = ", ".join(str(r) for r in sorted(made))
            raise ConfigError(f"{where}: plinth makes no {ref} on this cluster{hint}; it makes: {makes}")
        adopted.add(ref)
    return adopted


def operator_preinstalled(existing: Iterable[str]) -> bool:
    return any(text.strip().lower() == GPU_OPERATOR_REF for text in existing)


def adopted_manifest(obj: dict[str, Any]) -> dict[str, Any]:
    """The fields plinth applies to an object someone else created (see the module docstring)."""
    out = copy.deepcopy(obj)
    labels: dict[str, str] = out["metadata"].setdefault("labels", {})
    labels.pop(MANAGED_BY_KEY, None)
    labels.update(ADOPTED_LABEL)
    level = labels.get(PSA_ENFORCE)
    if level is not None and level != "privileged":
        del labels[PSA_ENFORCE]
        labels["pod-security.kubernetes.io/warn"] = level
        labels["pod-security.kubernetes.io/audit"] = level
    return out


def declare_patch(res_name: str, obj: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.Resource:
    """The Patch resource for an adopted object, kept (not relinquished) on destroy."""
    factory = PATCHES[obj["kind"]][1]
    return factory(res_name, adopted_manifest(obj),
                   pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True)))
