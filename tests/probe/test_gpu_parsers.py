"""The GPU parsers the node runs, on real recorded outputs of every layout in the fixtures:
``nvidia-smi -q`` (drivers 535/560 and 580/590 layouts), ``-q -x``, ``--query-gpu`` CSV, the plain
table, ``nvlink -s/-e``, ``topo -m`` and ``fabricmanager.log``."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.probe.helpers import FIXTURES, fixture_text
from validators.probe.gather._smi_csv import parse_query_gpu_csv
from validators.probe.parsers import (
    parse_fabricmanager_log,
    parse_nvidia_smi_table,
    parse_nvidia_smi_text,
    parse_nvidia_smi_xml,
    parse_nvlink_errors,
    parse_topo_matrix,
)


def devices(rel: str) -> list[dict]:
    return parse_nvidia_smi_text(fixture_text(rel))["devices"]


def test_text_535_layout_new_fields() -> None:
    """535.161.08: HW Slowdown with Power Brake (nested one level deeper), 86 of 1980 MHz, 67
    replays, 2560 banks at max spare rows, fabric registered."""
    d0 = devices("nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-8gpu_drv535.161.08.txt")[0]
    assert d0["clock_event_reasons"] == ["hw_slowdown", "hw_power_brake_slowdown"]
    assert (d0["clocks_sm_mhz"], d0["clocks_max_sm_mhz"], d0["pcie_replays"]) == (86, 1980, 67)
    assert (d0["vbios_version"], d0["architecture"], d0["performance_state"], d0["utilization_gpu_pct"]) == (
        "96.00.74.00.0D", "Hopper", "P0", 0)
    assert d0["remap_histogram"] == {"max": 2560, "high": 0, "partial": 0, "low": 0, "none": 0}
    assert (d0["remapped_rows_correctable"], d0["fabric_state"], d0["fabric_status"]) == (0, "Completed", "Success")
    assert d0["fabric_clique_id"] is None  # driver 535 prints no clique id


def test_text_580_layout_with_counters_and_fabric_health() -> None:
    """580.159.03 (values at column 55, Clocks Event Reasons Counters, Inactive remap counters,
    Fabric Health): the same fields come out; the counters section is not mistaken for reasons."""
    devs = devices("nvidia-smi/nvidia-smi-q_h200-sxm-5gpu_drv580.159.03_runpod_uuid-redacted.txt")
    assert len(devs) == 5 and all(d["clock_event_reasons"] == ["gpu_idle"] for d in devs)
    d = devs[0]
    assert (d["fabric_state"], d["fabric_status"], d["fabric_clique_id"], d["fabric_cluster_uuid"]) == (
        "Completed", "Success", "0", "00000000-0000-0000-0000-000000000000")
    assert d["remap_histogram"]["max"] == 3072 and d["remapped_rows_pending"] is False


def test_text_pre_ampere_and_consumer_layouts() -> None:
    titan = devices("nvidia-smi/nvidia-smi-q_titan-v-1gpu_drv560.35.03.txt")[0]
    assert titan["retired_pages_count"] is None and titan["remapped_rows_failure"] is None  # N/A, not 0
    assert (titan["pcie_gen_current"], titan["pcie_gen_max"]) == (1, 3)
    retired = devices("nvidia-smi/nvidia-smi-q-d-page-retirement_a100-8gpu_azure-ndv4_ecc-retired-pages-EDITED.txt")
    assert [(d["retired_pages_sbe"], d["retired_pages_dbe"], d["retired_pages_pending"]) for d in retired][:2] == [
        (60, 5, False), (2, 61, True)]


def test_xml_v11_throttle_and_v12_event_names() -> None:
    old = parse_nvidia_smi_xml(fixture_text("nvidia-smi/nvidia-smi-q-x_a100-sxm4-40gb-1gpu-MIG-2instances_drv510.47.03.xml"))
    new = parse_nvidia_smi_xml(fixture_text("nvidia-smi/nvidia-smi-q-x_a100-sxm4-80gb_MIG_drv535.54.03_first-of-4-gpus-only.xml"))
    for parsed, vbios in ((old, "92.00.45.00.03"), (new, "92.00.36.00.02")):
        d = parsed["devices"][0]
        assert d["clock_event_reasons"] == [] and d["pcie_replays"] == 0 and d["vbios_version"] == vbios
        assert d["remapped_rows_failure"] is None  # <remapped_rows>N/A</remapped_rows> under MIG
    assert new["attached_gpus"] == 4 and len(new["devices"]) == 1  # telegraf cut the other three GPUs


def test_sram_threshold_flag_in_every_layout_that_prints_it() -> None:
    """Hopper's "SRAM Threshold Exceeded" (NVIDIA's field-diagnostic limit): No in the real 535 text
    and 590 --query-gpu captures; absent (None, not False) where the driver does not print it (an
    A100 in 535.54's XML, a TITAN V). The XML tag is the one the 535+ DTD puts under
    <ecc_errors><aggregate> (leptonai/gpud's XML struct names it too), inserted into the real A100
    XML to prove the path."""
    assert {d["sram_threshold_exceeded"] for d in devices("nvidia-smi/nvidia-smi-q_h100-80gb-hbm3-8gpu_drv535.161.08.txt")} == {False}
    assert devices("nvidia-smi/nvidia-smi-q_titan-v-1gpu_drv560.35.03.txt")[0]["sram_threshold_exceeded"] is None
    csv = parse_query_gpu_csv(fixture_text("nvidia-smi/nvidia-smi-query-gpu_allfields_csv_h200-1gpu-vm_drv590.48.01_idle.csv"))
    assert csv["devices"][0]["sram_threshold_exceeded"] is False
    xml = fixture_text("nvidia-smi/nvidia-smi-q-x_a100-sxm4-80gb_MIG_drv535.54.03_first-of-4-gpus-only.xml")
    assert parse_nvidia_smi_xml(xml)["devices"][0]["sram_threshold_exceeded"] is None
    flagged = xml.replace("</dram_uncorrectable>\n            </aggregate>",
                          "</dram_uncorrectable>\n                <sram_threshold_exceeded>Yes</sram_threshold_exceeded>\n            </aggregate>", 1)
    assert flagged != xml
    assert parse_nvidia_smi_xml(flagged)["devices"][0]["sram_threshold_exceeded"] is True


def test_cut_off_xml_raises_instead_of_parsing_half() -> None:
    text = fixture_text("nvidia-smi/nvidia-smi-q-x_a100-sxm4-40gb-1gpu-MIG-2instances_drv510.47.03.xml")
    with pytest.raises(ET.ParseError):
        parse_nvidia_smi_xml(text[: len(text) // 2])
    with pytest.raises(ValueError, match="not nvidia-smi XML"):
        parse_nvidia_smi_xml("Welcome to node!")


def test_default_tables_both_widths() -> None:
    fm_down = parse_nvidia_smi_table(fixture_text(
        "nvidia-smi/nvidia-smi_default-table_8x-h100-80gb-hbm3_drv560.35.03_persistence-off_fabricmanager-down-node.txt"))
    assert fm_down["driver_version"] == "560.35.03" and len(fm_down["devices"]) == 8
    assert all(d["persistence_mode"] is False and d["ecc_uncorrected_volatile"] == 0 for d in fm_down["devices"])
    assert [d["pci"] for d in fm_down["devices"]][:2] == ["00000000:19:00.0", "00000000:3B:00.0"]
    old = parse_nvidia_smi_table(fixture_text("nvidia-smi/nvidia-smi_geforce-1gpu_drv525.125.06_fan-ERR-default-table.txt"))
    assert old["devices"][0]["memory_total_mib"] == 23028 and old["notes"] == ["GPU 0: the fan reads ERR! in nvidia-smi"]
    mig = parse_nvidia_smi_table(fixture_text("nvidia-smi/nvidia-smi_default-table_h100-80gb-hbm3-1gpu-MIG-enabled_drv590.48.01_load.txt"))
    assert len(mig["devices"]) == 1 and mig["devices"][0]["mig_mode"] == "Enabled"  # MIG device rows are not GPUs
    with pytest.raises(ValueError):
        parse_nvidia_smi_table("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")


def test_query_gpu_csv_any_field_list() -> None:
    cap = parse_query_gpu_csv(fixture_text("nvidia-smi/nvidia-smi-query-gpu_throttle-reasons_csv_2x-rtx-pro-6000-blackwell_sw-power-cap-active.csv"))
    assert [d["clock_event_reasons"] for d in cap["devices"]] == [["sw_power_cap"], ["sw_power_cap"]]
    full = parse_query_gpu_csv(fixture_text("nvidia-smi/nvidia-smi-query-gpu_allfields_csv_h100-80gb-hbm3-1gpu-vm_drv590.48.01_load.csv"))
    d = full["devices"][0]
    assert full["driver_version"] == "590.48.01" and d["vbios_version"] == "96.00.A5.00.01"
    assert (d["memory_total_mib"], d["utilization_gpu_pct"], d["clock_event_reasons"], d["fabric_state"]) == (81559, 100, [], "Completed")
    p100 = parse_query_gpu_csv(fixture_text("nvidia-smi/nvidia-smi-query-gpu_csv-nounits_tesla-p100-pcie-16gb.csv"))
    assert p100["devices"][0]["temperature_c"] == 37.0 and p100["devices"][0]["vbios_version"] is None
    with pytest.raises(ValueError):
        parse_query_gpu_csv("")


def test_nvlink_error_counters() -> None:
    """`nvidia-smi nvlink -e` layout as NVIDIA's driver prints it (one counter a line, tab-indented;
    no capture of it is among the recorded fixtures, this is the layout shown in stas00/ml-engineering's
    NVLink chapter) and the several-counters-a-line form."""
    text = ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-x)\n\t Link 0: Replay Errors: 0\n\t Link 0: Recovery Errors: 0\n"
            "\t Link 0: CRC Errors: 0\n\n\t Link 1: Replay Errors: 2\n\t Link 1: Recovery Errors: 1\n\t Link 1: CRC Errors: 7\n"
            "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-y)\n   Link 1: Replay Errors: 142, Recovery Errors: 3, CRC Errors: 891\n"
            "GPU 2: NVIDIA B200 (UUID: GPU-z)\n\t Link 0: Symbol Errors: 4\n")
    out = parse_nvlink_errors(text)
    assert out[0] == {"replay": 2, "recovery": 1, "crc": 7, "links": 2}
    assert out[1] == {"replay": 142, "recovery": 3, "crc": 891, "links": 1}
    assert out[2] == {"replay": None, "recovery": None, "crc": None, "links": 1}  # counters of another generation: unknown


@pytest.mark.parametrize("rel,links", [
    ("topo/nvidia-smi-topo-m_h100-80gb-hbm3-8gpu_NV18_9nic_vllm-issue-9176.txt", {18}),
    ("topo/nvidia-smi-topo-m_a100-sxm4-40gb-8gpu_NV12_10nic_vllm-issue-6199.txt", {12}),
    ("topo/nvidia-smi-topo-m_h200-sxm-5gpu_NV18_10nic_ansi-escapes.txt", {18}),  # ESC[4m … ESC[0m around the header
    ("topo/nvidia-smi-topo-m_h100-sxm-8gpu-NV18_tabs-as-spaces.txt", {18}),
    ("topo/nvidia-smi-topo-m_h100-80gb-hbm3-8gpu_NV18_12nic_8numa_vllm-issue-14897.txt", {18}),
    ("topo/nvidia-smi-topo-m_h100-8gpu_NV18-pairs_one-pair-NV17_sglang-issue-3780.txt", {17, 18}),
    ("topo/nvidia-smi-topo-m_8gpu-pcie-SYS-only_2numa.txt", set()),
    ("topo/nvidia-smi-topo-m_h100-80gb-hbm3-1gpu-vm_drv590.48.01_single-gpu.txt", set()),
])
def test_topo_matrix(rel: str, links: set[int]) -> None:
    matrix = parse_topo_matrix(fixture_text(rel))
    assert matrix and {n for peers in matrix.values() for n in peers.values()} == links
    assert all(g not in peers for g, peers in matrix.items())  # "X" (self) is not a link


def test_nv17_pair_is_gpus_2_and_3() -> None:
    matrix = parse_topo_matrix(fixture_text("topo/nvidia-smi-topo-m_h100-8gpu_NV18-pairs_one-pair-NV17_sglang-issue-3780.txt"))
    assert matrix[2] == {3: 17} and matrix[3] == {2: 17} and matrix[0] == {1: 18}


def test_fabricmanager_logs() -> None:
    """HGX log: 18 NVSwitch non-fatal 12028 errors, then Fabric Manager restarted twice (last 00:36:34) and
    logged none since — history. gpud's excerpt holds no start line and one non-fatal error: current."""
    hgx = parse_fabricmanager_log(fixture_text("fabricmanager/fabricmanager.log_hgx-8gpu_nvswitch-nonfatal-12028.txt"))
    assert (hgx["version"], hgx["started"], hgx["nonfatal_errors"], hgx["errors_before_start"]) == (
        "535.161.08", "Dec 20 2024 00:36:34", 0, 18)
    excerpt = parse_fabricmanager_log(fixture_text("fabricmanager/fabricmanager.log_gpud-testdata.txt"))
    assert (excerpt["version"], excerpt["nonfatal_errors"], excerpt["fatal_errors"]) == (None, 1, 0)
    assert "non-fatal error 12028" in excerpt["error_lines"][0]


def test_every_nvidia_smi_capture_parses_or_is_refused_cleanly() -> None:
    """Hostile input is normal input: every recorded nvidia-smi output goes through every parser;
    each one either parses or raises ValueError / ParseError — nothing else escapes."""
    folder = FIXTURES / "nvidia-smi"
    if not folder.is_dir():
        pytest.skip("real fixtures not present")
    for path in sorted(Path(folder).iterdir()):
        text = path.read_text(errors="replace")
        for parse in (parse_nvidia_smi_text, parse_nvidia_smi_xml, parse_nvidia_smi_table, parse_query_gpu_csv):
            try:
                parse(text)
            except (ValueError, ET.ParseError):
                pass
