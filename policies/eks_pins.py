"""Pinned versions of what plinth installs inside its EKS clusters (``policies/data/eks_platform.yaml``).

EKS add-ons per Kubernetes minor, Helm charts (repository, version, the upstream commit their values
were checked against), the Cluster Autoscaler image per minor. The YAML says how to bump each one.
A cluster version without pins is a config error naming ``plinth:cluster.version``: an unpinned
add-on would silently follow whatever EKS defaults to that day.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from policies.errors import ConfigError

PINS_FILE = Path(__file__).parent / "data" / "eks_platform.yaml"
ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns")


class Chart(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: str
    version: str
    source: str

    @property
    def oci(self) -> bool:
        return self.repo.startswith("oci://")


class Pins(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: str
    addons: dict[str, dict[str, str]]
    autoscaler_image: dict[str, str]
    charts: dict[str, Chart]

    def addon_versions(self, kubernetes_version: str) -> dict[str, str]:
        found = self.addons.get(kubernetes_version)
        if found is None:
            raise ConfigError(f"plinth:cluster.version: no pinned EKS add-on versions for Kubernetes {kubernetes_version} "
                              f"(pinned: {', '.join(sorted(self.addons))}; see {PINS_FILE.name} to add one)")
        return {name: found[name] for name in ADDONS}

    def autoscaler_tag(self, kubernetes_version: str) -> str:
        tag = self.autoscaler_image.get(kubernetes_version)
        if tag is None:
            raise ConfigError(f"plinth:cluster.version: no pinned Cluster Autoscaler image for Kubernetes {kubernetes_version} "
                              f"(pinned: {', '.join(sorted(self.autoscaler_image))})")
        return tag

    def chart(self, name: str) -> Chart:
        return self.charts[name]


@lru_cache(maxsize=1)
def pins() -> Pins:
    return Pins.model_validate(yaml.safe_load(PINS_FILE.read_text()))
