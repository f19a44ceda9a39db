"""EKS managed add-ons: the four every cluster needs, at pinned versions, taking over the
self-managed copies EKS bootstraps."""

from __future__ import annotations

import re

import pytest

from components.eks_addons import EksAddons, EksAddonsArgs, addon_plan
from policies.eks_pins import ADDONS, pins
from policies.errors import ConfigError
from stacks.config import ClusterConfig
from tests.components.mocks import run_program

ADDON = "aws:eks/addon:Addon"
EKSBUILD = re.compile(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$")  # the form describe-addon-versions returns


def test_every_pinned_cluster_version_pins_all_four_addons_in_the_eks_form() -> None:
    assert ClusterConfig().version in pins().addons  # the default cluster version is pinned
    for version, addons in pins().addons.items():
        assert set(addons) == set(ADDONS), version
        assert all(EKSBUILD.match(v) for v in addons.values()), addons
        # kube-proxy follows the cluster's minor exactly (EKS publishes one build line per minor)
        assert addons["kube-proxy"].startswith(f"v{version}.")
        assert pins().autoscaler_tag(version).startswith(f"v{version}.")


def test_unpinned_cluster_version_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^plinth:cluster\.version: no pinned EKS add-on versions for Kubernetes 1\.29"):
        addon_plan("1.29")


def test_addons_are_managed_pinned_and_take_over_on_create() -> None:
    run = run_program(lambda: EksAddons("plinth-addons", EksAddonsArgs(cluster_name="plinth-eks", kubernetes_version="1.33")))
    addons = {r.inputs["addonName"]: r.inputs for r in run.of_type(ADDON)}
    assert set(addons) == {"vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns"}
    assert addons["coredns"]["addonVersion"] == pins().addons["1.33"]["coredns"]
    for inputs in addons.values():
        assert inputs["clusterName"] == "plinth-eks"
        assert (inputs["resolveConflictsOnCreate"], inputs["resolveConflictsOnUpdate"]) == ("OVERWRITE", "OVERWRITE")
    assert run.result.pod_identity_agent is run.result.addons["eks-pod-identity-agent"]
