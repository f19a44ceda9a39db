"""``plinth:lakehouse``: the S3 zones, their storage tiers and who may read or write them."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from stacks.config.base import ConfigModel

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class LifecycleConfig(ConfigModel):
    standard_ia_days: int = Field(default=30, ge=30)  # S3 minimum for STANDARD_IA transitions
    glacier_ir_days: int = Field(default=90, ge=1)
    deep_archive_days: int = Field(default=365, ge=1)
    noncurrent_expiry_days: int = Field(default=90, ge=1)

    @model_validator(mode="after")
    def _ascending(self) -> LifecycleConfig:
        if not self.standard_ia_days < self.glacier_ir_days < self.deep_archive_days:
            raise ValueError("tier days must ascend: standardIaDays < glacierIrDays < deepArchiveDays")
        return self


class LakehouseAccess(ConfigModel):
    """A workload identity: pods running as ``namespace/serviceAccount`` on the EKS cluster get a role
    (EKS Pod Identity) that reads the ``read`` zones and reads and writes the ``write`` zones."""

    namespace: str
    service_account: str
    read: list[str] = Field(default_factory=list)
    write: list[str] = Field(default_factory=list)

    @field_validator("namespace", "service_account")
    @classmethod
    def _dns(cls, v: str) -> str:
        if not _DNS_LABEL.match(v):
            raise ValueError("must be a Kubernetes name: lowercase letters, digits and '-' (at most 63 characters)")
        return v


class LakehouseConfig(ConfigModel):
    zones: list[str] = Field(default_factory=lambda: ["raw", "curated", "features", "models"], min_length=1)
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)
    s3_tables: bool = False
    force_destroy: bool = False
    access: list[LakehouseAccess] = Field(default_factory=list)

    def access_problem(self) -> str | None:
        """'access[i].field: reason' for a grant on a zone that doesn't exist (None: fine)."""
        seen: set[tuple[str, str]] = set()
        for i, entry in enumerate(self.access):
            for kind in ("read", "write"):
                unknown = [z for z in getattr(entry, kind) if z not in self.zones]
                if unknown:
                    return f"access[{i}].{kind}: unknown zone {unknown[0]!r} (zones: {', '.join(self.zones)})"
            if not entry.read and not entry.write:
                return f"access[{i}]: grant at least one zone in read or write"
            key = (entry.namespace, entry.service_account)
            if key in seen:
                return f"access[{i}]: {entry.namespace}/{entry.service_account} is listed twice"
            seen.add(key)
        return None
