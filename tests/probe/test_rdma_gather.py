"""RDMA facts as the probe gathers them: sysfs trees laid out from real captures, ibstat and fi_info
replayed behind fake tools, link flaps from a system log, all through the probe as a transport
runs it (``host_root`` points the gatherers at the tree)."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest

from policies.thresholds import Threshold
from tests.checks.facts import ctx
from tests.probe import rdma_tree
from tests.probe.helpers import (
    fake_dmesg,
    fake_tool,
    fixture,
    fixture_text,
    probe_env,
    quiet_options,
    run_probe,
)
from validators.checks import network_local, rdma
from validators.probe.gather.rdma import parse_rate, read_sysfs

IBSTATUS = "ibverbs/ibstatus_a100-azure-node_8x-hdr200_all-active.txt"


def probe(tmp_path: Path, root: Path, **opts: object) -> dict:
    bin_dir = tmp_path / "bin"
    fake_dmesg(bin_dir, fixture("dmesg/dmesg-decode-iso_boot-no-xid_large.txt"))
    return run_probe(quiet_options(tmp_path, host_root=str(root), disk_test_mb=0, **opts), probe_env(bin_dir))


@pytest.mark.parametrize("text,expected", [
    ("400 Gb/sec (4X NDR)", (400.0, "4X", "NDR")),
    ("200 Gb/sec (4X HDR)", (200.0, "4X", "HDR")),
    ("100 Gb/sec (2X HDR)", (100.0, "2X", "HDR")),
    ("25 Gb/sec (1X EDR)", (25.0, "1X", "EDR")),
    ("56 Gb/sec (4X FDR)", (56.0, "4X", "FDR")),
    ("400", (400.0, None, None)),          # ibstat prints the number alone
    ("", (None, None, None)), ("garbage", (None, None, None)), ("9" * 5000 + " Gb/sec", (None, None, None)),
])
def test_rate_strings_from_the_kernel(text: str, expected: tuple) -> None:
    assert parse_rate(text) == expected


def test_sysfs_laid_out_from_a_real_ibstatus_capture(tmp_path: Path) -> None:
    """Azure ND A100 v4 (8x HDR 200 InfiniBand plus the accelerated-networking Ethernet VF
    mlx5_8): what ibstatus printed is what the gatherer reads."""
    names = rdma_tree.from_ibstatus(fixture_text(IBSTATUS), tmp_path)
    devices = read_sysfs(str(tmp_path / "sys/class/infiniband"))
    assert [d["name"] for d in devices] == sorted(names) and len(devices) == 9
    ib = [p for d in devices for p in d["ports"] if p["link_layer"] == "InfiniBand"]
    assert len(ib) == 8 and {(p["state"], p["phys_state"], p["rate_gbps"], p["width"], p["speed"]) for p in ib} == {
        ("ACTIVE", "LinkUp", 200.0, "4X", "HDR")}
    eth = next(d for d in devices if d["name"] == "mlx5_8")
    assert eth["driver"] == "mlx5_core" and eth["ports"][0]["speed"] == "QDR" and eth["netdevs"] == ["eth1"]


def test_the_probe_reads_the_tree_and_the_judges_agree(tmp_path: Path) -> None:
    """Through the whole probe: the node is healthy for its size (8x HDR 200 at 4X), and the same
    ports fail when the inventory says the node should have NDR 400."""
    root = tmp_path / "host"
    rdma_tree.from_ibstatus(fixture_text(IBSTATUS), root)
    facts = probe(tmp_path, root)
    assert facts["errors"] == {} and facts["rdma"]["source"] == "sysfs" and len(facts["rdma"]["devices"]) == 9
    t = Threshold(unit="ports")
    ok = rdma.ib_link(facts, t, ctx(expect={"instance_type": "Standard_ND96asr_v4"}))
    assert ok.status == "pass" and ok.message.startswith("8 InfiniBand ports ACTIVE/LinkUp at 200 Gb/s (4X HDR) as expected (ib_hdr200")
    wrong = rdma.ib_link(facts, t, ctx(expect={"fabric": "ib_ndr400"}))
    assert wrong.status == "fail" and "mlx5_0 port 1 trained at 200 Gb/s (4X HDR), expected 400 Gb/s (ib_ndr400)" in wrong.message


def test_counters_and_a_degraded_port_read_from_sysfs(tmp_path: Path) -> None:
    root = tmp_path / "host"
    for i in range(8):
        rdma_tree.device(root, f"mlx5_{i}", driver="mlx5_core", hca_type="MT4129", netdevs=(f"ib{i}",))
        rate = "200 Gb/sec (4X HDR)" if i == 3 else "400 Gb/sec (4X NDR)"  # one port trained down to HDR
        rdma_tree.port(root, f"mlx5_{i}", 1, state="4: ACTIVE", phys="5: LinkUp", rate=rate, link_layer="InfiniBand",
                       counters={"symbol_error": 1523 if i == 3 else 0, "link_downed": 0, "port_xmit_discards": 7})
    facts = probe(tmp_path, root)
    link = rdma.ib_link(facts, Threshold(unit="ports"), ctx())
    assert link.status == "fail" and "mlx5_3 port 1 trained at 200 Gb/s (4X HDR) while its siblings (MT4129) run 400 Gb/s" in link.message
    errors = rdma.ib_errors(facts, Threshold(unit="counters"), ctx())
    assert errors.status == "fail" and "mlx5_3 port 1 symbol_error 1523 (> 10" in errors.message


def test_flaps_from_an_earlier_boot_do_not_count(tmp_path: Path) -> None:
    """The AzHC syslog capture (ib6 lost its carrier six times on Aug 17) read as this machine's
    /var/log/syslog: the lines predate this boot, so they are reported and not counted."""
    root = tmp_path / "host"
    rdma_tree.from_ibstatus(fixture_text(IBSTATUS), root)
    facts = probe(tmp_path, root, system_log_paths=(str(fixture("syslog/syslog_ib6-link-flap_azure.txt")),))
    flaps = facts["rdma"]["flaps"]
    assert flaps["counts"] == {} and flaps["before_boot"] == 6 and "ib6" in flaps["interfaces"]
    r = rdma.ib_flaps(facts, Threshold(max=1, unit="flaps", window_hours=6), ctx())
    assert r.status == "pass" and "6 from earlier boots not counted" in r.message


def test_efa_devices_counted_by_fi_info_against_the_instance_type(tmp_path: Path) -> None:
    """p4de.24xlarge: 4 EFA devices in sysfs, and fi_info (replaying the recorded p4de output)
    lists 4 RDM endpoints. Right for a p4de; a p5.48xlarge should have 32."""
    root = tmp_path / "host"
    for i, bdf in enumerate(("16s27", "32s27", "144s27", "160s27")):
        rdma_tree.device(root, f"rdmap{bdf}", driver="efa")
        rdma_tree.port(root, f"rdmap{bdf}", 1, state="4: ACTIVE", phys="5: LinkUp", rate="100 Gb/sec (4X EDR)",
                       link_layer="Unknown", hw_counters={"rx_drops": 0, "retrans_timeout_events": 0})
    rdma_tree.verbs_nodes(root, 4)
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "fi_info", f"cat {shlex.quote(str(fixture('efa/fi_info-p-efa-t-FI_EP_RDM_p4de.24xlarge_4efa.txt')))}\n")
    facts = probe(tmp_path, root)
    efa = facts["rdma"]["efa"]
    assert (efa["source"], efa["providers"], efa["domains"][0]) == ("fi_info", 4, "rdmap16s27-rdm")
    t = Threshold(min=1, unit="devices")
    assert network_local.rdma(facts, t, ctx(instance_type="p4de.24xlarge")).status == "pass"
    assert network_local.rdma(facts, t, ctx(instance_type="p5.48xlarge")).status == "fail"
    assert rdma.rdma_stack(facts, Threshold(expect=True), ctx()).status == "pass"
    assert rdma.ib_link(facts, Threshold(unit="ports"), ctx()).status == "skip"  # EFA: counted by network.rdma
    assert facts["rdma"]["flaps"] is None  # no IPoIB/RoCE interface: the logs are not read for flaps


def test_ibstat_that_panics_part_way_is_an_error_not_a_pass(tmp_path: Path) -> None:
    """No sysfs tree: the probe falls back to ibstat. The recorded Azure capture lists 8 healthy
    HDR ports, then ibpanic (a device vanished mid-listing, exit 255): the listing is incomplete,
    so plinth cannot say the node is healthy."""
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "ibstat", f"cat {shlex.quote(str(fixture('ibverbs/ibstat_a100-azure-node_8x-hdr200_ibpanic-exit255.txt')))}\nexit 255\n")
    facts = probe(tmp_path, tmp_path / "empty-host")
    assert facts["rdma"]["source"] == "ibstat" and "ibpanic" in facts["rdma"]["error"]
    r = rdma.ib_link(facts, Threshold(unit="ports"), ctx())
    assert r.status == "error" and "(8 ports listed before it)" in r.message


def test_a_link_loss_is_counted_once_whichever_logs_carry_it(tmp_path: Path) -> None:
    """rsyslog copies the kernel's lines into /var/log/syslog: the mlx5 "Link down" of a RoCE rail
    is counted from the kernel log, the daemons' carrier messages from the system log, none twice."""
    root = tmp_path / "host"
    rdma_tree.device(root, "mlx5_0", driver="mlx5_core", hca_type="MT4129", netdevs=("ens1np0",))
    rdma_tree.port(root, "mlx5_0", 1, state="4: ACTIVE", phys="5: LinkUp", rate="400 Gb/sec (4X NDR)", link_layer="Ethernet")
    kernel_line = "mlx5_core 0000:0c:00.0 ens1np0: Link down"
    bin_dir = tmp_path / "bin"
    # a minute ago in the kernel's clock (seconds since boot): "[5.0]" fell out of the 6 h window once
    # the machine had been up longer than that
    since_boot = float(Path("/proc/uptime").read_text().split()[0]) - 60
    fake_tool(bin_dir, "dmesg", f"echo '[{since_boot:12.6f}] {kernel_line}'\n")
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime(time.time() - 60))
    syslog = tmp_path / "syslog"
    syslog.write_text(f"{stamp} node kernel: {kernel_line}\n{stamp} node systemd-networkd[812]: ens1np0: Lost carrier\n")
    facts = run_probe(quiet_options(tmp_path, host_root=str(root), disk_test_mb=0, system_log_paths=(str(syslog),)), probe_env(bin_dir))
    assert facts["rdma"]["flaps"]["counts"] == {"ens1np0": 2}
    r = rdma.ib_flaps(facts, Threshold(max=1, unit="flaps", window_hours=6), ctx())
    assert r.status == "fail" and "ens1np0 lost its carrier x2" in r.message


def _libfabric2(text: str, keep: int) -> str:
    """The recorded p4de `fi_info -p efa -t FI_EP_RDM` cut to its first ``keep`` devices and written
    as libfabric 2.x (EFA installer 1.38+) prints it: every device once per RDM fabric, the
    ``efa-direct`` entry first, then ``efa`` (libfabric PR 10735), both with the device's domain."""
    blocks = ["provider:" + b for b in text.split("provider:")[1:keep + 1]]
    return "".join(b.replace("fabric: efa\n", "fabric: efa-direct\n", 1) + b for b in blocks)


def test_libfabric_2_lists_each_efa_device_twice_but_it_is_one_device(tmp_path: Path) -> None:
    """A p4de.24xlarge that came up with 2 of its 4 EFA devices, on a current EFA installer:
    fi_info prints 4 RDM entries (efa-direct and efa for each of the 2 devices). An operator
    counts 2 devices and fails the node; counting the entries would have passed it."""
    root = tmp_path / "host"
    for bdf in ("16s27", "32s27"):
        rdma_tree.device(root, f"rdmap{bdf}", driver="efa")
        rdma_tree.port(root, f"rdmap{bdf}", 1, state="4: ACTIVE", phys="5: LinkUp", rate="100 Gb/sec (4X EDR)",
                       link_layer="Unknown", hw_counters={"rx_drops": 0, "retrans_timeout_events": 0})
    rdma_tree.verbs_nodes(root, 2)
    listing = tmp_path / "fi_info.txt"
    listing.write_text(_libfabric2(fixture_text("efa/fi_info-p-efa-t-FI_EP_RDM_p4de.24xlarge_4efa.txt"), 2))
    assert listing.read_text().count("provider: efa") == 4 and "fabric: efa-direct" in listing.read_text()
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "fi_info", f"cat {shlex.quote(str(listing))}\n")
    facts = probe(tmp_path, root)
    efa = facts["rdma"]["efa"]
    assert (efa["providers"], efa["domains"]) == (2, ["rdmap16s27-rdm", "rdmap32s27-rdm"])
    r = network_local.rdma(facts, Threshold(min=1, unit="devices"), ctx(instance_type="p4de.24xlarge"))
    assert r.status == "fail" and r.measured == 2, r.message
    assert rdma.rdma_stack(facts, Threshold(expect=True), ctx()).status == "pass"  # 2 endpoints for 2 devices
