"""ib_write_bw and fi_pingpong output: a recorded real run, the outputs of the real tools on this
machine, the unit conversions, and the judge."""

from __future__ import annotations

import pytest

from policies.catalogue import rdma_link_gbps
from policies.thresholds import Threshold
from tests.fabric.helpers import NO_BOUND, recorded
from validators.fabric.rdma import (
    evaluate_bandwidth,
    fi_pingpong_client_argv,
    fi_pingpong_server_argv,
    ib_write_bw_client_argv,
    ib_write_bw_server_argv,
    parse_fi_pingpong,
    parse_ib_write_bw,
)

CHECK = "fabric.rdma_bandwidth"
SPARK = "ib_write_bw_roce_run-infinitely_dgx-spark_nvidia-playbook.txt"


def test_recorded_roce_rail_between_two_dgx_sparks() -> None:
    """Expert (NVIDIA's own reading in the playbook): 92.57 Gb/s on this rail, healthy above NVIDIA's
    80 Gb/s degraded-initialization threshold. --run_infinitely does not measure the peak (0.00 with a
    warning): that is "not measured", not zero."""
    run = parse_ib_write_bw(recorded(SPARK))
    assert run["ok"] and run["error"] is None
    assert (run["device"], run["link_type"], run["transport"], run["connection"]) == ("rocep1s0f0", "Ethernet", "IB", "RC")
    assert run["msg_size"] == 65536 and run["iterations"] == 882821 and len(run["rows"]) == 5
    assert run["bw_avg_gbps"] == pytest.approx(92.568) and run["bw_peak_gbps"] is None
    assert evaluate_bandwidth(CHECK, run, Threshold(min=80, unit="Gbps"), None, "RoCE rail").status == "pass"
    # the degraded state NVIDIA describes (8-25 Gb/s per rail) fails the same floor
    degraded = parse_ib_write_bw(recorded(SPARK).replace("92.57", "18.40").replace("92.56", "18.41"))
    res = evaluate_bandwidth(CHECK, degraded, Threshold(min=80, unit="Gbps"), None, "RoCE rail")
    assert res.status == "fail" and res.measured == pytest.approx(18.402)


def test_mib_per_second_tables_are_converted_to_gbps() -> None:
    """Synthesized: perftest without --report_gbits prints MB/sec (2^20 bytes), newer builds MiB/sec."""
    for unit in ("MB/sec", "MiB/sec"):
        text = (f" #bytes     #iterations    BW peak[{unit}]    BW average[{unit}]   MsgRate[Mpps]\n"
                " 8388608    5000             46500.00           46400.00              0.005531\n")
        run = parse_ib_write_bw(text)
        assert run["ok"] and run["bw_avg_gbps"] == pytest.approx(46400 * 2**20 * 8 / 1e9, rel=1e-4)
        assert run["bw_peak_gbps"] == pytest.approx(390.07, abs=0.01)


def test_ndr_link_expectation_is_the_line_rate_with_the_90_percent_rule() -> None:
    ndr = rdma_link_gbps("ib_ndr")
    assert ndr == 400
    assert evaluate_bandwidth(CHECK, {"ok": True, "bw_avg_gbps": 390.0}, NO_BOUND, ndr, "mlx5_0").status == "pass"
    # Azure's H100 floor (375) clears plinth's floor (360) but sits in its warn band (< 378)
    assert evaluate_bandwidth(CHECK, {"ok": True, "bw_avg_gbps": 375.0}, NO_BOUND, ndr, "mlx5_0").status == "warn"
    low = evaluate_bandwidth(CHECK, {"ok": True, "bw_avg_gbps": 196.0}, NO_BOUND, ndr, "mlx5_0")  # an HDR-speed link
    assert low.status == "fail" and "needs >= 360 Gbps" in low.message and "link 400 Gbps" in low.message


def test_fi_pingpong_rows_and_sizes() -> None:
    """fabtests prints sizes with binary suffixes (size_str) and counts with decimal ones (cnt_str); the
    header is the one fi_pingpong printed here (libfabric 1.17, tcp provider)."""
    text = ("bytes   #sent   #ack     total       time     MB/sec    usec/xfer   Mxfers/sec\n"
            "64      1k      =1k      128k        0.10s      1.29      49.44       0.02\n"
            "1.5m    100     =100     300m        0.20s   1607.25     978.60       0.00\n")
    run = parse_fi_pingpong(text, provider="efa")
    assert run["ok"] and run["provider"] == "efa" and run["peak_mb_s"] == 1607.25
    assert run["rows"][0] == {"bytes": 64, "iters": 1000, "total": 131072, "time_s": 0.10, "mb_s": 1.29,
                              "usec_per_xfer": 49.44, "mxfers_per_s": 0.02}
    assert run["rows"][1]["bytes"] == 1572864 and run["rows"][1]["total"] == 300 * 2**20
    res = evaluate_bandwidth(CHECK, run, NO_BOUND, None, "EFA path")
    assert res.status == "pass" and res.measured == pytest.approx(12.858) and "path works" in res.message


@pytest.mark.parametrize("parse, text, reason, remedy", [
    (parse_fi_pingpong, "fi_getinfo(): util/pingpong.c:1489, ret=-61 (No data available)\n",
     "provider efa is not available", "fi_info -p efa"),
    (parse_fi_pingpong, "[error] util/pingpong.c:408 : failed to connect: Connection refused\n",
     "Connection refused", "listener"),
    (parse_fi_pingpong, ("fi_av_insert(): prov/efa/src/efa_av.c:123, ret=-22 (Invalid argument)\nibv_create_ah failed with "
     "EINVAL: the remote is in a different availability zone\n"), "ibv_create_ah", "one availability zone"),
    (parse_ib_write_bw, " Couldn't connect to 10.0.0.2:18515\n Unable to open file descriptor for socket connection",
     "Couldn't connect", "control port"),
    (parse_ib_write_bw, "\x1b[0m\x00garbage\n", "no ib_write_bw result table", "by hand"),
    (parse_fi_pingpong, "", "no fi_pingpong result", "by hand"),
])
def test_failed_runs_are_errors_with_a_remedy_that_fits(parse, text: str, reason: str, remedy: str) -> None:
    run = parse(text, provider="efa") if parse is parse_fi_pingpong else parse(text)
    assert not run["ok"] and reason in run["error"]
    res = evaluate_bandwidth(CHECK, run, NO_BOUND, 100.0, "fabric")
    assert res.status == "error" and remedy in (res.remediation or "")


def test_killed_at_the_bound_says_so() -> None:
    assert "time bound" in parse_fi_pingpong("", exit_code=124)["error"]
    assert "time bound" in parse_ib_write_bw("", exit_code=137)["error"]


def test_argv_builders() -> None:
    assert ib_write_bw_server_argv("mlx5_0", 18515) == [
        "timeout", "-k", "5", "60", "ib_write_bw", "-d", "mlx5_0", "-p", "18515", "-s", "8388608", "-q", "1", "-F",
        "--report_gbits", "-D", "5"]
    client = ib_write_bw_client_argv("10.0.0.1", "mlx5_1", 18516, duration_s=None, iterations=5000, gid_index=3,
                                     use_cuda=1, timeout_s=None)
    assert client == ["ib_write_bw", "-d", "mlx5_1", "-p", "18516", "-s", "8388608", "-q", "1", "-F", "--report_gbits",
                      "-n", "5000", "-x", "3", "--use_cuda=1", "10.0.0.1"]
    assert fi_pingpong_server_argv("efa", 47592, timeout_s=None) == [
        "fi_pingpong", "-p", "efa", "-e", "rdm", "-I", "100", "-S", "65536", "-B", "47592"]
    assert fi_pingpong_client_argv("10.0.0.1", "tcp", 47592, size="all")[-7:] == [
        "-I", "100", "-S", "all", "-P", "47592", "10.0.0.1"]
    for bad in (lambda: ib_write_bw_client_argv("-oEvil", "mlx5_0", 1), lambda: ib_write_bw_server_argv("mlx5_0", 0),
                lambda: ib_write_bw_server_argv("mlx5_0", 1, duration_s=None),
                lambda: fi_pingpong_server_argv("efa", 1, endpoint="bogus")):
        with pytest.raises(ValueError):
            bad()


def test_the_fabric_port_is_infiniband_before_a_front_end_ethernet_rdma_device() -> None:
    """Real capture (leptonai/gpud testdata, SOURCES.md): 8x ConnectX-7 NDR 400 InfiniBand plus one bonded
    Ethernet RDMA port at 200. An expert measures the IB HCAs: the Ethernet one is the front-end. ibstat lists
    devices by name, and on Azure ND the accelerated-networking mlx5_an0 sorts before mlx5_ib0..7, so the
    order is put Ethernet-first here too: the choice must not follow the order (AzHC's determine_IB_devices
    keeps only link_layer InfiniBand)."""
    from tests.fabric.helpers import real
    from validators.fabric.expect import rdma_link_gbps as node_link_gbps
    from validators.fabric.rounds import fabric_kind, rdma_device
    from validators.probe.gather.rdma import parse_ibstat

    devices = parse_ibstat(real("ibverbs/ibstat_h100-node_8x-ndr400-ib-plus-1eth_all-active.txt"))
    assert devices[-1]["name"] == "mlx5_bond_0" and devices[-1]["ports"][0]["link_layer"] == "Ethernet"
    for order in (devices, [devices[-1], *devices[:-1]]):
        facts = {"rdma": {"efa": {"present": False}, "devices": order}}
        assert (fabric_kind(facts), rdma_device(facts), node_link_gbps(facts)) == ("ib", "mlx5_0", 400)
    # a RoCE-only node stays RoCE, judged at its own port's rate
    roce = {"rdma": {"efa": {"present": False}, "devices": [devices[-1]]}}
    assert (fabric_kind(roce), rdma_device(roce), node_link_gbps(roce)) == ("roce", "mlx5_bond_0", 200)
    assert fabric_kind({"rdma": {"efa": {"present": False}, "devices": []}}) == "tcp"
