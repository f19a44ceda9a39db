"""Every Helm value plinth sets exists in the chart's own values.yaml at the pinned version.

A misspelt or renamed key is silently ignored by Helm (``toleration:`` instead of ``tolerations:``
deploys a plugin that never reaches a tainted GPU node), so each key plinth writes is looked up in
the chart's documented keys, recorded in tests/components/data/helm/<chart>-<version>.keys (header:
chart, version, repository, commit; made by scripts/helm_values_keys.py). The key lists below are
what plinth sets: changing a values function means updating its list here, and the lookup proves
the chart knows the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.cluster_autoscaler import autoscaler_values
from components.device_plugins import (
    EFA_CHART,
    NEURON_CHART,
    NVIDIA_CHART,
    efa_values,
    neuron_values,
    nvidia_values,
)
from policies.eks_pins import pins

DATA = Path(__file__).parent / "data" / "helm"

# What plinth sets, per chart (dotted paths; keys under a free-form map such as nodeSelector are the user's).
PLINTH_KEYS = {
    NVIDIA_CHART: {
        "tolerations", "gfd.enabled",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
    },
    EFA_CHART: {"tolerations", "nodeSelector.vpc.amazonaws.com/efa.present", "supportedInstanceLabels.keys",
                "supportedInstanceLabels.values"},
    NEURON_CHART: {"devicePlugin.tolerations", "devicePlugin.nodeSelector.plinth.dev/accelerator", "scheduler.enabled"},
    "cluster-autoscaler": {
        "cloudProvider", "awsRegion", "autoDiscovery.clusterName", "image.tag", "rbac.serviceAccount.create",
        "rbac.serviceAccount.name", "nodeSelector.plinth.dev/role", "extraArgs.expander",
        "extraArgs.balance-similar-node-groups", "extraArgs.skip-nodes-with-system-pods",
        "extraArgs.scale-down-unneeded-time", "extraArgs.scale-down-gpu-utilization-threshold",
    },
}
VALUES = {
    NVIDIA_CHART: nvidia_values(),
    EFA_CHART: efa_values(),
    NEURON_CHART: neuron_values(),
    "cluster-autoscaler": autoscaler_values("acme-ml-eks", "us-east-1", "v1.33.6", {"plinth.dev/role": "system"}),
}


def leaf_paths(values: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for key, value in values.items():
        path = (*prefix, key)
        out += leaf_paths(value, path) if isinstance(value, dict) and value else [path]
    return out


def documented(chart: str) -> tuple[dict[str, str], set[str], set[str]]:
    """(header, leaf keys, free-form map prefixes) of the chart's recorded key list."""
    version = pins().chart(chart).version
    lines = (DATA / f"{chart}-{version}.keys").read_text().splitlines()
    header = dict(line[2:].split(": ", 1) for line in lines if line.startswith("# ") and ": " in line)
    keys = [line for line in lines if line and not line.startswith("#")]
    return header, {k for k in keys if not k.endswith("/*")}, {k[:-2] for k in keys if k.endswith("/*")}


def is_documented(path: tuple[str, ...], leaves: set[str], maps: set[str]) -> bool:
    if ".".join(path) in leaves:
        return True
    return any(".".join(path[:n]) in maps for n in range(1, len(path)))


@pytest.mark.parametrize("chart", sorted(PLINTH_KEYS))
def test_every_value_plinth_sets_is_a_documented_chart_key(chart: str) -> None:
    header, leaves, maps = documented(chart)
    paths = leaf_paths(VALUES[chart])
    assert {".".join(p) for p in paths} == PLINTH_KEYS[chart]
    unknown = [".".join(p) for p in paths if not is_documented(p, leaves, maps)]
    assert unknown == [], f"{chart} {header['chart']}: not in its values.yaml: {unknown}"


@pytest.mark.parametrize("chart", sorted(PLINTH_KEYS))
def test_key_lists_belong_to_the_pinned_chart_and_commit(chart: str) -> None:
    pin = pins().chart(chart)
    header, leaves, _ = documented(chart)
    assert header["chart"] == f"{chart} {pin.version}"
    assert header["commit"] in pin.source and len(header["commit"]) == 40
    assert leaves  # a real list, not an empty file


def test_the_lookup_refuses_a_misspelt_key() -> None:
    _, leaves, maps = documented(EFA_CHART)
    assert not is_documented(("toleration",), leaves, maps)
    assert not is_documented(("image", "tags"), leaves, maps)
    assert is_documented(("nodeSelector", "anything"), leaves, maps)  # nodeSelector is the user's map
    assert is_documented(("tolerations",), leaves, maps)
