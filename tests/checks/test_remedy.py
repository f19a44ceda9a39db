"""hardware_remedy words the fix for the node's platform: move a cloud instance to other hardware,
reseat/RMA on bare metal, both when unknown; never one cloud's wording on another."""

from __future__ import annotations

import pytest

from validators.checks.remedy import hardware_remedy, platform_kind


def on(kind: str | None) -> dict:
    return {"system": {"platform": {"kind": kind}}} if kind else {"system": {}}


@pytest.mark.parametrize("kind,must,must_not", [
    ("aws", ["stop and start the instance", "other hardware", "replace it"], ["reseat", "RMA", "redeploy"]),
    ("azure", ["deallocate", "redeploy", "another host"], ["reseat", "RMA", "stop and start the instance"]),
    ("gcp", ["stop and start the instance", "another host"], ["reseat", "RMA", "redeploy"]),
    ("oci", ["stop and start the instance"], ["reseat", "RMA"]),
    ("cloud-other", ["stop and start", "other hardware"], ["reseat", "RMA"]),
    ("bare-metal", ["reseat the GPU", "RMA"], ["stop and start", "instance", "replace it"]),
    (None, ["On a cloud instance:", "stop and start", "On bare metal: reseat the GPU", "RMA"], []),
])
def test_wording_per_platform(kind: str | None, must: list[str], must_not: list[str]) -> None:
    text = hardware_remedy(on(kind), "the GPU")
    assert text.startswith("Drain the node") and text.endswith(".")
    for word in must:
        assert word in text, (kind, word, text)
    for word in must_not:
        assert word not in text, (kind, word, text)


def test_first_steps_come_before_moving_or_reseating() -> None:
    cloud = hardware_remedy(on("aws"), "the GPU", cloud_first="reset the GPU (nvidia-smi -r)")
    assert cloud.index("nvidia-smi -r") < cloud.index("stop and start")
    metal = hardware_remedy(on("bare-metal"), "the NVLink baseboard", metal_first="reset the GPUs")
    assert metal.index("reset the GPUs") < metal.index("reseat the NVLink baseboard")


@pytest.mark.parametrize("facts,kind", [
    ({}, "unknown"), ({"system": None}, "unknown"), ({"system": {"platform": {"kind": "mainframe"}}}, "unknown"),
    ({"system": {"platform": {"kind": "azure"}}}, "azure"),
])
def test_platform_kind_is_defensive(facts: dict, kind: str) -> None:
    assert platform_kind(facts) == kind
