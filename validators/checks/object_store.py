"""Fleet-scope judges over the controller's object-store facts (validators/objectstore.py):
storage.bucket_posture and storage.object_store_throughput.

They run once per fleet, not per node: posture is a property of the bucket and throughput is
measured from the controller. No ``object_store`` in the inventory -> skip with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.thresholds import Profile, Threshold
from validators.checks.base import Facts, check
from validators.checks.compare import at_least, fmt, not_applicable, not_run
from validators.results import CheckResult

NO_STORE = "no object_store in the inventory"
PAB_KEYS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _store(controller: Facts) -> dict[str, Any] | None:
    store = controller.get("object_store") if controller else None
    return store if isinstance(store, dict) else None


def posture_gaps(store: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(what is missing, how to fix each) for versioning, default encryption, public access block."""
    missing: list[str] = []
    fixes: list[str] = []
    unreadable = set(store.get("posture_unreadable") or [])
    versioning = store.get("versioning")
    if versioning != "Enabled":
        missing.append(f"versioning is {versioning or 'unknown'} (needs Enabled)")
        fixes.append("enable versioning (aws.s3.BucketVersioning status=Enabled; `aws s3api put-bucket-versioning`)")
    if "encryption" not in unreadable and not store.get("encryption"):
        missing.append("no default encryption")
        fixes.append("add a default SSE rule, preferably aws:kms (aws.s3.BucketServerSideEncryptionConfiguration)")
    pab = store.get("public_access_block") or {}
    off = [] if "public_access_block" in unreadable else [k for k in PAB_KEYS if not pab.get(k)]
    if off:
        missing.append(f"public access block off: {', '.join(off)}")
        fixes.append("set all four public access block flags (aws.s3.BucketPublicAccessBlock)")
    return missing, fixes


@check("storage.bucket_posture", scope="fleet", reads=())
def bucket_posture(facts_by_node: Mapping[str, Facts], controller: Facts, threshold: Threshold, profile: Profile) -> list[CheckResult]:
    cid = "storage.bucket_posture"
    store = _store(controller)
    if store is None:
        return [not_applicable(cid, NO_STORE, threshold=threshold)]
    name = f"s3://{store.get('bucket')}"
    if store.get("error"):
        return [not_run(cid, f"{name}: posture could not be read: {store['error']}", threshold=threshold)]
    missing, fixes = posture_gaps(store)
    unreadable = f" (could not read: {store['posture_error']})" if store.get("posture_error") else ""
    if missing:  # what we could read is already wrong: that is a fail, whatever we could not read
        return [CheckResult.make(cid, "fail", f"{name}: {'; '.join(missing)}{unreadable}", measured=False, threshold=True,
                                 remediation="; ".join(fixes))]
    if unreadable:
        # a 403 on one posture call must not read as "encryption missing", nor as a pass
        return [not_run(cid, f"{name}: posture partly unreadable: {store['posture_error']}", threshold=threshold,
                        remediation="grant s3:GetBucketVersioning, s3:GetEncryptionConfiguration, s3:GetBucketPublicAccessBlock")]
    return [CheckResult.make(cid, "pass", f"{name}: versioning Enabled, encryption {store.get('encryption')}, "
                             "public access fully blocked", measured=True, threshold=True)]


@check("storage.object_store_throughput", scope="fleet", reads=())
def object_store_throughput(facts_by_node: Mapping[str, Facts], controller: Facts, threshold: Threshold, profile: Profile) -> list[CheckResult]:
    cid = "storage.object_store_throughput"
    store = _store(controller)
    if store is None:
        return [not_applicable(cid, NO_STORE, threshold=threshold)]
    name = f"s3://{store.get('bucket')}"
    reason = store.get("error") or store.get("throughput_error")
    if reason:
        return [not_run(cid, f"{name}: throughput not measured: {reason}", threshold=threshold)]
    put, get = store.get("put_mb_s"), store.get("get_mb_s")
    if not isinstance(put, (int, float)) or not isinstance(get, (int, float)):
        return [not_run(cid, f"{name}: throughput not measured", threshold=threshold)]
    size = store.get("object_bytes") or 0
    slower = round(min(put, get), 1)
    res = at_least(
        cid, slower, threshold, unit="MB/s",
        what=f"{name} slower of PUT {fmt(put)} / GET {fmt(get)} MB/s for a {fmt(size / 1e6)} MB object, from the controller",
        remediation="Use a VPC gateway endpoint for S3 in the nodes' region, larger multipart parts and more "
                    "concurrency; check for a proxy or NAT gateway on the path.",
    )
    if store.get("cleanup_error"):
        res = res.model_copy(update={"message": f"{res.message} (note: {store['cleanup_error']})"})
    return [res]
