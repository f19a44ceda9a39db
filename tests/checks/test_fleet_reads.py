"""A fleet judge's declared reads are all it reads: every fleet judge gives the same results on a
node's whole facts and on the facts cut to the paths it declares (what crosses from the worker
processes at 10,000 nodes). A judge that starts reading a field it did not declare fails here,
with the fleet that shows it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from policies.thresholds import builtin_profiles, get_profile
from validators.checks import _reads
from validators.checks.base import fleet_part, fleet_reads, judge_fleet, load_all


def device(i: int, *, vbios: str = "96.00.74.00.0D", name: str = "NVIDIA H100 80GB HBM3") -> dict[str, Any]:
    # the shape the probe sends, with the counters and readings the fleet judges must not need
    return {"index": i, "name": name, "vbios_version": vbios, "uuid": f"GPU-{i:08x}", "temperature_c": 40 + i,
            "ecc": {"volatile": {"dbe": 0, "sbe": 1}}, "clocks": {"sm_mhz": 1980}, "pcie": {"width": 16, "gen": 5}}


def node(devices: int = 8, *, driver: str = "535.183.01", cuda: str = "12.2", instance: str | None = "p5.48xlarge",
         dmi: str | None = None, write: float = 900.0, gbps: float = 19.0) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "gpu": {"attached_gpus": devices, "driver_version": driver, "cuda_version": cuda, "source": "nvidia-smi",
                "devices": [device(i) for i in range(devices)], "topology": {"matrix": "NV18"}},
        "system": {"cpu_cores": 96, "platform": {"kind": "aws", "instance_type": dmi}},
        "disk": {"write_mb_s": write, "read_mb_s": write * 2},
        "pairwise": {"bandwidth_gbps": gbps},
    }
    if instance:
        facts["expect"] = {"instance_type": instance, "gpus": 8}
    return facts


def _fleets() -> dict[str, dict[str, dict[str, Any]]]:
    lost_gpu = node(7)
    odd_vbios = node()
    odd_vbios["gpu"]["devices"][3]["vbios_version"] = "96.00.74.00.01"
    hostile = node()
    hostile["gpu"]["devices"][2] = "not a device"
    no_gpu_section = node()
    no_gpu_section["gpu"] = "nvidia-smi: not found"
    by_dmi = [node(instance=None, dmi="p4d.24xlarge") for _ in range(3)]
    by_model = [node(instance=None) for _ in range(2)]
    by_model[1]["gpu"]["devices"] = [device(i, name="NVIDIA H200") for i in range(8)]
    return {
        "healthy": {f"n{i}": node() for i in range(4)},
        "lost GPU, slow disk, slow link": {"a": node(), "b": node(), "c": lost_gpu, "d": node(write=100.0, gbps=2.0)},
        "driver and VBIOS drift": {"a": node(), "b": node(driver="535.161.08"), "c": odd_vbios, "d": node(cuda="12.4")},
        "hostile shapes": {"a": node(), "b": hostile, "c": no_gpu_section, "d": {"gpu": {"devices": "x"}}, "e": {}},
        "pools from DMI and GPU model": {**{f"d{i}": f for i, f in enumerate(by_dmi)}, "m0": by_model[0], "m1": by_model[1]},
        "errors in sections": {"a": node(), "b": {**node(), "disk": {"error": "fio: not found"}},
                               "c": {**node(), "pairwise": {"error": "timed out"}}},
    }


FLEETS = _fleets()


@pytest.mark.parametrize("profile_name", sorted(builtin_profiles()))
@pytest.mark.parametrize("fleet_name", sorted(FLEETS))
def test_every_fleet_judge_gives_the_same_results_on_the_cut_facts(profile_name: str, fleet_name: str) -> None:
    profile = get_profile(profile_name)
    reads = fleet_reads(profile)
    if reads is None:
        pytest.fail(f"{profile_name}: a fleet judge declares no reads: every node's whole facts would be kept")
    whole = copy.deepcopy(FLEETS[fleet_name])
    cut = {name: fleet_part(facts, reads) for name, facts in whole.items()}
    expected = [r.model_dump() for r in judge_fleet(whole, {}, profile)]
    assert [r.model_dump() for r in judge_fleet(cut, {}, profile)] == expected


def test_the_fleets_exercise_the_judges() -> None:
    """The comparison above means something: on these fleets the judges find what an operator would."""
    profile = get_profile("distributed_training")

    def statuses(fleet: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for r in judge_fleet(copy.deepcopy(FLEETS[fleet]), {}, profile):
            out.setdefault(r.id, set()).add(r.status)
        return out

    assert statuses("driver and VBIOS drift")["gpu.versions"] == {"fail"}
    lost = statuses("lost GPU, slow disk, slow link")
    assert "warn" in lost["gpu.count_outlier"] and "warn" in lost["storage.disk_outlier"]
    assert statuses("healthy")["gpu.versions"] == {"pass"}
    assert statuses("pools from DMI and GPU model")["gpu.versions"] == {"pass", "skip"}  # p4d pool of 3; H100 and H200 alone


def test_the_cut_keeps_only_the_declared_paths_and_shares_the_values() -> None:
    facts = node()
    tree = fleet_reads(get_profile("distributed_training"))
    assert tree is not None
    part = fleet_part(facts, tree)
    assert set(part["gpu"]) == {"devices", "driver_version", "cuda_version"}
    assert part["gpu"]["devices"][0] == {"name": "NVIDIA H100 80GB HBM3", "vbios_version": "96.00.74.00.0D"}
    assert len(part["gpu"]["devices"]) == 8  # gpu.count_outlier counts them
    assert part["system"] == {"platform": {"instance_type": None}} and part["expect"] == {"instance_type": "p5.48xlarge"}
    assert part["disk"] is facts["disk"]  # a whole section is shared, not copied
    assert len(repr(part)) < len(repr(facts)) / 2


def test_paths_parse_whole_sections_over_parts_and_refuse_what_is_not_a_path() -> None:
    assert _reads.parse(["gpu.driver_version", "gpu"]) == _reads.parse(["gpu"]) == _reads.parse(["gpu", "gpu.devices[].name"])
    only_length = _reads.cut({"gpu": {"devices": [{"a": 1}, "raw", {"b": 2}], "x": 1}}, _reads.parse(["gpu.devices[]"]))
    assert only_length == {"gpu": {"devices": [{}, "raw", {}]}}
    both = _reads.parse(["gpu.devices[]", "gpu.devices[].a"])  # the count and a field: in either order
    assert both == _reads.parse(["gpu.devices[].a", "gpu.devices[]"])
    assert _reads.cut({"gpu": {"devices": [{"a": 1, "b": 2}, {"b": 3}]}}, both) == {"gpu": {"devices": [{"a": 1}, {}]}}
    assert _reads.cut({"gpu": "broken"}, _reads.parse(["gpu.devices[].name"])) == {"gpu": "broken"}
    for bad in ("", "gpu..name", "gpu.[]", ".gpu"):
        with pytest.raises(ValueError, match="not a facts path"):
            _reads.parse([bad])


def test_every_registered_fleet_judge_declares_parseable_reads() -> None:
    for reg in load_all().values():
        if reg.scope == "fleet":
            assert reg.reads is not None, f"{reg.id}: declare what it reads (a judge that reads everything keeps every node's facts)"
            _reads.parse(reg.reads)
