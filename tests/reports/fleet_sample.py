"""A small fleet with the failures a real run has (a node at a tenth of the fabric's bandwidth, an
Xid, a missing GPU, one node unreachable, a fleet outlier, a node with a hostile name and GPU model
string), shared by the HTML and Prometheus report tests and the demo report."""

from __future__ import annotations

from validators.results import CheckResult, NodeReport, PairMeasurement, Report
from validators.runner import summarize

C = CheckResult.make
HOSTILE = '<script>document.title="owned"</script><img src=x onerror=alert(1)>'


def _healthy(bw: float = 96.0) -> list[CheckResult]:
    return [
        C("gpu.count", "pass", "8 of 8 GPUs visible", measured=8, threshold=8, unit="GPUs"),
        C("gpu.model", "pass", "NVIDIA H100 80GB HBM3", measured="NVIDIA H100 80GB HBM3", threshold="H100"),
        C("gpu.xid", "pass", "no Xid errors in the kernel log"),
        C("gpu.ecc_errors", "pass", "0 uncorrectable ECC errors", measured=0, threshold=0),
        C("system.cpu_cores", "pass", "96 physical cores", measured=96, threshold=8, unit="cores"),
        C("system.data_stack", "pass", "numpy, pandas, pyarrow importable"),
        C("network.mtu", "pass", "MTU 9001 on ens32", measured=9001, threshold=9000, unit="bytes"),
        C("network.bandwidth", "pass", f"best pair {bw} Gbps", measured=bw, threshold=100 if bw >= 100 else 90, unit="Gbps"),
        C("storage.free_space", "warn", "212 GiB free on /, 6% above the floor", measured=212, threshold=200, unit="GiB"),
    ]


def fleet_with_failures() -> Report:
    nodes = [NodeReport(name=f"gpu-{i}", host=f"10.0.1.{10 + i}", reachable=True, duration_s=2.1, checks=_healthy())
             for i in range(5)]
    slow = nodes[1].checks
    slow[7] = C("network.bandwidth", "fail", "best pair 9.6 Gbps, below 90 Gbps", measured=9.6, threshold=90, unit="Gbps",
                remediation="Check the node's NIC link speed (ethtool), the EFA device and its security group; "
                            "compare with `fi_info -p efa`.")
    slow[6] = C("network.mtu", "fail", "MTU 1500 on ens32, below 9000", measured=1500, threshold=9000, unit="bytes",
                remediation="ip link set ens32 mtu 9001 (and persist it in the network config)")
    xid = nodes[2].checks
    xid[2] = C("gpu.xid", "fail", "Xid 79 (GPU has fallen off the bus) on GPU 3", measured=79,
               remediation="Drain the node; reseat or replace GPU 3 (NVIDIA Xid catalogue: 79).")
    xid[0] = C("gpu.count", "fail", "7 of 8 GPUs visible", measured=7, threshold=8, unit="GPUs",
               remediation="Reseat or RMA the missing GPU; check `nvidia-smi -q` and dmesg for Xid 79.")
    odd = nodes[3].checks
    odd[1] = C("gpu.model", "fail", f"GPU 0 is {HOSTILE}", measured=HOSTILE, threshold="H100",
               remediation=f"replace {HOSTILE}")
    nodes[3] = NodeReport(name="gpu-3<b>x</b>", host="10.0.1.13", reachable=True, duration_s=2.0, checks=odd)
    down = NodeReport(name="gpu-5", host="10.0.1.15", reachable=False, checks=[
        C(c.id, "error", "unreachable: 10.0.1.15:22: timed out after 10s connecting", threshold=c.threshold, unit=c.unit)
        for c in _healthy()])
    nodes.append(down)
    fleet = [
        C("network.bandwidth_outlier", "warn", "gpu-1: bandwidth 9.6 Gbps is 90% below the fleet median 96 Gbps",
          measured=9.6, threshold=10, unit="%", remediation="Compare gpu-1's NIC and cabling with its peers."),
        # a fleet check names one node per result: two results under one check id
        C("storage.disk_outlier", "warn", "gpu-0: disk write 410 MB/s is 38% below the fleet median 660 MB/s",
          measured=38, threshold=10, unit="%", remediation="Check the node's volume type and throughput (iostat, fio)."),
        C("storage.disk_outlier", "warn", "gpu-4: disk read 900 MB/s is 25% below the fleet median 1200 MB/s",
          measured=25, threshold=10, unit="%", remediation="Check the node's volume type and throughput (iostat, fio)."),
        C("fabric.nccl_allreduce", "fail", "all_reduce_perf busbw 41.3 GB/s across 4 nodes, below 45 GB/s (90% of 50)",
          measured=41.3, threshold=45, unit="GB/s", remediation="Check EFA on every node (fi_info -p efa) and NCCL_NET_PLUGIN."),
    ]
    names = [n.name for n in nodes[:5]]
    pairs = []
    for i, client in enumerate(names):  # the ring the scheduler makes: i -> i+1
        server = names[(i + 1) % len(names)]
        slow_pair = "gpu-1" in (client, server)
        pairs.append(PairMeasurement(client=client, server=server, tool="iperf3", bandwidth_gbps=9.6 if slow_pair else 96.0,
                                     latency_ms=0.21 if slow_pair else 0.05))
    pairs.append(PairMeasurement(client="gpu-4", server="gpu-5", tool="iperf3", error="gpu-5 unreachable"))
    return Report(summary=summarize(nodes, fleet), profile="distributed_training", nodes=nodes, fleet=fleet, pairs=pairs,
                  started_at="2025-06-01T10:00:00+00:00", duration_s=14.2)


def healthy_fleet() -> Report:
    nodes = [NodeReport(name=f"gpu-{i}", host=f"10.0.1.{10 + i}", reachable=True, checks=[
        c for c in _healthy(120.0) if c.status == "pass"]) for i in range(4)]
    return Report(summary=summarize(nodes, []), profile="distributed_training", nodes=nodes)
