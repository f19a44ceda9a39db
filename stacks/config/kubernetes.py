"""``plinth:kubernetes``: an existing cluster plinth enables GPUs on (hybrid)."""

from __future__ import annotations

from pydantic import Field

from stacks.config.base import ConfigModel


class TeamQuota(ConfigModel):
    name: str
    gpus: int = Field(ge=0)


class KubernetesConfig(ConfigModel):
    """An existing cluster (on-prem or elsewhere) reached through a kubeconfig context."""

    context: str | None = None
    kubeconfig: str | None = None  # path; None = the provider's default (KUBECONFIG / ~/.kube/config)
    gpu_operator: bool = False
    gpu_operator_version: str = "v25.3.0"
    device_plugin_image: str = "nvcr.io/nvidia/k8s-device-plugin:v0.17.1"
    teams: list[TeamQuota] = Field(default_factory=list)
    # Objects already on the cluster, as "<kind>/<name>" or "<kind>/<namespace>/<name>" (see
    # components.k8s_adopt): plinth patches its fields onto them instead of creating them.
    existing: list[str] = Field(default_factory=list)
