"""The probe's parsers against real recorded command output (../shared/fixtures/real)."""

from __future__ import annotations

import pytest

from tests.probe.helpers import fixture_text
from validators.probe.parsers import (
    classify_smi_failure,
    parse_fi_info,
    parse_fio_json,
    parse_ibstat,
    parse_nvidia_smi_text,
    parse_nvidia_smi_xml,
    parse_nvlink_status,
    physical_cores,
)

SMI = "nvidia-smi/"


@pytest.mark.parametrize("name,driver", [
    ("nvidia-smi-q_h100-80gb-hbm3-8gpu_drv535.161.08.txt", "535.161.08"),
    ("nvidia-smi-q_h100-80gb-hbm3-8gpu_drv535.183.01.txt", "535.183.01"),
])
def test_healthy_8x_h100_text(name: str, driver: str) -> None:
    out = parse_nvidia_smi_text(fixture_text(SMI + name))
    assert out["driver_version"] == driver and out["cuda_version"] == "12.2" and out["attached_gpus"] == 8
    devs = out["devices"]
    assert [d["index"] for d in devs] == list(range(8))
    assert len({d["uuid"] for d in devs}) == 8 and len({d["pci"] for d in devs}) == 8
    for d in devs:
        assert d["name"] == "NVIDIA H100 80GB HBM3"
        assert d["memory_total_mib"] == 81559
        assert d["ecc_mode"] == "Enabled"
        assert d["ecc_uncorrected_volatile"] == 0 and d["ecc_uncorrected_aggregate"] == 0
        assert d["retired_pages_count"] is None  # Hopper: row remapping instead of page retirement
        assert d["remapped_rows_failure"] is False and d["remapped_rows_pending"] is False
        assert d["persistence_mode"] is True and d["mig_mode"] == "Disabled"
        assert (d["pcie_gen_current"], d["pcie_gen_max"], d["pcie_width_current"], d["pcie_width_max"]) == (5, 5, 16, 16)
        assert 20 <= d["temperature_c"] <= 60


def test_first_h100_values_exact() -> None:
    dev = parse_nvidia_smi_text(fixture_text(SMI + "nvidia-smi-q_h100-80gb-hbm3-8gpu_drv535.161.08.txt"))["devices"][0]
    assert dev["pci"] == "00000000:19:00.0"
    assert dev["uuid"] == "GPU-ee7954ec-da95-fd7a-ddfd-c6b32cc2f8aa"
    assert dev["temperature_c"] == 29.0


def test_h200_5gpu_driver_580_layout() -> None:
    out = parse_nvidia_smi_text(fixture_text(SMI + "nvidia-smi-q_h200-sxm-5gpu_drv580.159.03_runpod_uuid-redacted.txt"))
    assert (out["driver_version"], out["cuda_version"], len(out["devices"])) == ("580.159.03", "13.0", 5)
    assert {d["name"] for d in out["devices"]} == {"NVIDIA H200"}
    assert all(d["memory_total_mib"] == 143771 and d["ecc_uncorrected_aggregate"] == 0 for d in out["devices"])


def test_rtx4090_has_no_ecc_counters() -> None:
    out = parse_nvidia_smi_text(fixture_text(SMI + "nvidia-smi-q_rtx4090-8gpu_drv535.154.05.txt"))
    assert len(out["devices"]) == 8
    assert all(d["ecc_mode"] == "Disabled" and d["ecc_uncorrected_volatile"] is None for d in out["devices"])
    assert all(d["name"] == "NVIDIA GeForce RTX 4090" for d in out["devices"])


def test_titan_v_old_ecc_layout_and_idle_pcie() -> None:
    dev = parse_nvidia_smi_text(fixture_text(SMI + "nvidia-smi-q_titan-v-1gpu_drv560.35.03.txt"))["devices"][0]
    assert dev["ecc_mode"] is None and dev["ecc_uncorrected_aggregate"] is None  # "Double Bit > Total : N/A"
    assert (dev["pcie_gen_current"], dev["pcie_gen_max"]) == (1, 3)
    assert dev["persistence_mode"] is False


def test_mig_enabled_text() -> None:
    dev = parse_nvidia_smi_text(fixture_text(SMI + "nvidia-smi-q_h100-80gb-hbm3-1gpu-MIG-enabled_drv590.48.01_idle.txt"))["devices"][0]
    assert dev["mig_mode"] == "Enabled"
    assert dev["memory_total_mib"] == 81559  # the GPU's, not a MIG slice's (nested "FB Memory Usage")
    assert dev["remapped_rows_failure"] is None  # "Remapped Rows : N/A"


def test_page_retirement_clean_and_edited() -> None:
    clean = parse_nvidia_smi_text(fixture_text(SMI + "nvidia-smi-q-d-page-retirement_a100-8gpu_azure-ndv4.txt"))
    assert [d["retired_pages_count"] for d in clean["devices"]] == [0] * 8
    assert not any(d["retired_pages_pending"] for d in clean["devices"])
    edited = parse_nvidia_smi_text(fixture_text(SMI + "nvidia-smi-q-d-page-retirement_a100-8gpu_azure-ndv4_ecc-retired-pages-EDITED.txt"))
    assert [d["retired_pages_count"] for d in edited["devices"]] == [65, 63, 0, 6, 0, 65, 0, 64]
    assert [d["index"] for d in edited["devices"] if d["retired_pages_pending"]] == [1, 3, 5, 7]
    assert edited["devices"][1]["pci"] == "00000002:00:00.0"


def test_xml_a100_mig() -> None:
    out = parse_nvidia_smi_xml(fixture_text(SMI + "nvidia-smi-q-x_a100-sxm4-40gb-1gpu-MIG-2instances_drv510.47.03.xml"))
    assert (out["driver_version"], out["cuda_version"], out["attached_gpus"]) == ("510.47.03", "11.6", 1)
    dev = out["devices"][0]
    assert dev["name"] == "NVIDIA A100-SXM4-40GB" and dev["memory_total_mib"] == 40960  # not a MIG slice's 19968
    assert dev["ecc_uncorrected_volatile"] is None and dev["ecc_uncorrected_aggregate"] == 0
    assert dev["mig_mode"] == "Enabled" and dev["persistence_mode"] is False
    assert (dev["pcie_gen_current"], dev["pcie_width_max"], dev["temperature_c"]) == (4, 16, 36.0)


def test_xml_truncated_capture_keeps_attached_count() -> None:
    out = parse_nvidia_smi_xml(fixture_text(SMI + "nvidia-smi-q-x_a100-sxm4-80gb_MIG_drv535.54.03_first-of-4-gpus-only.xml"))
    assert out["attached_gpus"] == 4 and len(out["devices"]) == 1
    assert out["devices"][0]["memory_total_mib"] == 81920


def test_xml_parser_rejects_text() -> None:
    with pytest.raises(ValueError):
        parse_nvidia_smi_xml(fixture_text(SMI + "nvidia-smi-q_titan-v-1gpu_drv560.35.03.txt"))


@pytest.mark.parametrize("name,expected", [
    ("nvidia-smi_ERROR_no-driver_couldnt-communicate.txt", "no NVIDIA driver: NVIDIA-SMI has failed"),
    ("nvidia-smi_ERROR_nvml-driver-library-version-mismatch.txt", "NVIDIA driver/library version mismatch"),
    ("nvidia-smi_ERROR_no-devices-were-found.txt", "nvidia-smi failed: No devices were found"),
])
def test_classify_smi_failures(name: str, expected: str) -> None:
    assert classify_smi_failure(fixture_text(SMI + name)).startswith(expected)


def test_nvlink_status_variants() -> None:
    good = parse_nvlink_status(fixture_text("nvlink/nvidia-smi-nvlink-s-i7_a100-sxm4-80gb_good.txt"))
    assert good == {7: {"total": 12, "active": 12, "note": None}}
    dead = parse_nvlink_status(fixture_text("nvlink/nvidia-smi-nvlink-s-i6_a100-sxm4-80gb_all-links-inactive.txt"))
    assert dead[6]["active"] == 0 and dead[6]["total"] is None
    h200 = parse_nvlink_status(fixture_text("nvlink/nvidia-smi-nvlink-status_h200-sxm-5gpu_18links.txt"))
    assert sorted(h200) == [0, 1, 2, 3, 4] and all(v["total"] == 18 == v["active"] for v in h200.values())
    mig = parse_nvlink_status(fixture_text("nvlink/nvidia-smi-nvlink-s_h100-80gb-hbm3-1gpu-MIG-enabled_drv590.48.01.txt"))
    assert mig[0]["active"] is None and "MIG" in mig[0]["note"]
    spaces = parse_nvlink_status(fixture_text("nvlink/nvidia-smi-nvlink-status_a100-sxm4-80gb-8gpu.txt"))
    assert len(spaces) == 8 and spaces[0]["total"] == 12


def test_fio_interrupted_run_with_text_prefix() -> None:
    out = parse_fio_json(fixture_text("fio/fio-output-format-json_rw-4k-iodepth16-libaio_interrupted-SIGINT_fio-3.33.json"))
    assert out["version"] == "fio-3.33"
    assert out["read_mb_s"] == pytest.approx(31.4, abs=0.1)  # bw_bytes 31383676
    assert out["write_mb_s"] is not None and out["read_bytes"] == 1511751680
    assert out["error"] is None


def test_fio_2_17_schema_uses_kib_bw() -> None:
    out = parse_fio_json(fixture_text("fio/fio-output-format-json_2jobs-randread-randwrite-16k-numjobs2_gce-pd_fio-2.17.json"))
    assert out["version"] == "fio-2.17"
    assert out["read_mb_s"] is not None and out["read_mb_s"] > 100  # bw in KiB/s x 1024
    assert out["write_mb_s"] is not None


def test_fio_rejects_non_json() -> None:
    with pytest.raises(ValueError):
        parse_fio_json("fio: file:filesetup.c:... Permission denied\n")


def test_fi_info_efa() -> None:
    p4de = parse_fi_info(fixture_text("efa/fi_info-p-efa-t-FI_EP_RDM_p4de.24xlarge_4efa.txt"))
    assert p4de == {"providers": 4, "domains": ["rdmap16s27-rdm", "rdmap32s27-rdm", "rdmap144s27-rdm", "rdmap160s27-rdm"]}
    assert parse_fi_info(fixture_text("efa/fi_info-p-efa-t-FI_EP_RDM_p4d.24xlarge_4efa_awsdocs-deindented.txt"))["providers"] == 4


def test_ibstat_active_down_and_panic() -> None:
    ok = parse_ibstat(fixture_text("ibverbs/ibstat_h100-node_8x-ndr400-ib-plus-1eth_all-active.txt"))
    assert len(ok) == 9 and all(p["state"] == "ACTIVE" for d in ok for p in d["ports"])
    assert max(p["rate_gbps"] for d in ok for p in d["ports"]) == 400
    down = parse_ibstat(fixture_text("ibverbs/ibstat_h100-node_12hca_some-down-3ports.txt"))
    assert len(down) == 12 and sum(p["state"] == "DOWN" for d in down for p in d["ports"]) == 3
    panic = parse_ibstat(fixture_text("ibverbs/ibstat_a100-azure-node_8x-hdr200_ibpanic-exit255.txt"))
    assert panic and all(d["name"].startswith("mlx5_") for d in panic)


def test_physical_cores_matches_sysfs_topology() -> None:
    from pathlib import Path

    text = Path("/proc/cpuinfo").read_text()
    cores = physical_cores(text)
    topo = {
        (p.joinpath("physical_package_id").read_text(), p.joinpath("core_id").read_text())
        for p in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology")
    }
    if cores is None:
        pytest.skip("this CPU's /proc/cpuinfo has no core ids")
    assert cores == len(topo)


def test_physical_cores_counts_hyperthreads_once() -> None:
    block = "processor\t: {p}\nphysical id\t: {s}\ncore id\t\t: {c}\n\n"
    text = "".join(block.format(p=i, s=i // 4, c=i % 2) for i in range(8))  # 2 sockets x 2 cores x 2 threads
    assert physical_cores(text) == 4
