"""The nccl-tests judge as a table, the command lines plinth sends, the NCCL environment per fabric,
and the fabric expectations in the catalogue."""

from __future__ import annotations

from typing import Any

import pytest

from policies.catalogue import fabric_catalogue, instance, internode_busbw, intranode_busbw, rdma_link_gbps
from policies.thresholds import Threshold
from validators.fabric.nccl import (
    EFA_LIBRARY_DIRS,
    EXPECTED_FRACTION,
    evaluate,
    fabric_env,
    local_argv,
    mpirun_argv,
    network_matches,
    remedy,
)

CHECK = "fabric.nccl_allreduce"


def _run(busbw: float, *, wrong: int | None = 0, oob: int | None = 0, checked: bool = True, network: str | None = None,
         size: int = 1 << 30) -> dict[str, Any]:
    measure = {"time_us": 1.0, "algbw_gbs": busbw, "busbw_gbs": busbw, "wrong": wrong}
    return {"ok": True, "error": None, "rows": [{"size_bytes": size, "out_of_place": measure, "in_place": measure}],
            "peak_busbw_gbs": busbw, "peak_size_bytes": size, "wrong_total": wrong, "out_of_bounds": oob,
            "data_checked": checked, "network": network}


@pytest.mark.parametrize("busbw, status", [
    (100.0, "pass"), (95.0, "pass"), (94.4, "warn"), (90.0, "warn"), (89.9, "fail"), (10.0, "fail"), (0.0, "fail"),
])
def test_busbw_against_the_expectation_fails_below_90_percent_and_warns_just_above(busbw: float, status: str) -> None:
    # expected 100 -> floor 90 (nccl-tests' own NCCL_TESTS_MIN_BW rule); warn band = warn_margin above it
    res = evaluate(CHECK, _run(busbw), Threshold(warn_margin=0.05), 100.0, "all-reduce")
    assert res.status == status
    assert res.threshold == pytest.approx(100 * EXPECTED_FRACTION) and res.unit == "GB/s"
    assert "expected ~100 GB/s" in res.message and "at 1 GiB" in res.message


def test_profile_floor_is_used_when_the_catalogue_has_no_expectation() -> None:
    th = Threshold(min=50, unit="GB/s")
    assert evaluate(CHECK, _run(49.0), th, None, "x").status == "fail"
    assert evaluate(CHECK, _run(80.0), th, None, "x").status == "pass"


@pytest.mark.parametrize("run", [_run(500.0, wrong=1), _run(500.0, wrong=None, oob=7)])
def test_wrong_results_fail_whatever_the_speed(run: dict[str, Any]) -> None:
    res = evaluate(CHECK, run, Threshold(), 100.0, "all-reduce")
    assert res.status == "fail" and "data corruption" in res.message and res.measured in (1, 7)


def test_fabric_fallback_fails_and_an_unprinted_network_does_not() -> None:
    assert evaluate(CHECK, _run(400.0, network="Socket"), Threshold(), 100.0, "x", fabric="efa").status == "fail"
    hosts = {f"gpu-{i}": "AWS Libfabric" for i in range(12)}
    assert evaluate(CHECK, {**_run(400.0, network="AWS Libfabric"), "networks": hosts}, Threshold(), 100.0, "x",
                    fabric="efa").status == "pass"
    hosts.update({"gpu-3": "Socket", "gpu-7": "Socket"})  # rank 0 (gpu-0) says Libfabric: two others fell back
    res = evaluate(CHECK, {**_run(400.0, network="AWS Libfabric"), "networks": hosts}, Threshold(), 100.0, "x", fabric="efa")
    assert res.status == "fail" and res.message == "x: NCCL used the Socket transport on gpu-3, gpu-7 (2 of 12 hosts), not efa"
    assert evaluate(CHECK, _run(400.0, network="AWS Libfabric"), Threshold(), 100.0, "x", fabric="efa").status == "pass"
    assert evaluate(CHECK, _run(400.0, network=None), Threshold(), 100.0, "x", fabric="efa").status == "pass"


@pytest.mark.parametrize("kind, network, matches", [
    ("efa", "Libfabric", True), ("efa", "AWS Libfabric", True), ("efa", "Socket", False), ("efa", "IB", False),
    ("ib", "IB", True), ("ib", "IBext_v8", True), ("roce", "IB", True), ("ib", "Socket", False),
    ("tcp", "Socket", True), ("tcp", "IB", False), ("efa", None, None), ("nvlink", "IB", None),
])
def test_network_names_per_fabric(kind: str, network: str | None, matches: bool | None) -> None:
    assert network_matches(kind, network) is matches


def test_missing_or_failed_runs_are_errors_never_pass() -> None:
    assert evaluate(CHECK, None, Threshold(), 100.0, "x").status == "error"
    failed = evaluate(CHECK, {"ok": False, "error": "Test NCCL failure common.cu:1 'remote process exited'"},
                      Threshold(), 100.0, "x")
    assert failed.status == "error" and "remote process exited" in failed.message and "fabric" in (failed.remediation or "")


@pytest.mark.parametrize("error, needle", [
    ("Test CUDA failure common.cu:941 'system not yet initialized'", "nvidia-fabricmanager"),
    ("Host key verification failed.", "known_hosts"),
    ("Permission denied (publickey).", "authorized_keys"),
    ("bash: orted: command not found", "Open MPI"),
    ("Test CUDA failure common.cu:1 'out of memory'", "buffers"),
    ("something nobody has seen", "by hand"),
])
def test_remedy_fits_the_failure(error: str, needle: str) -> None:
    assert needle in (remedy(error) or "")


# --- command lines ----------------------------------------------------------------------------

def test_local_argv_checks_data_and_is_bounded() -> None:
    argv = local_argv(8, min_bytes=1 << 20, max_bytes=1 << 30, iters=20, warmup=5, timeout_s=120)
    assert argv[:4] == ["timeout", "-k", "5", "120"]
    assert argv[4:] == ["all_reduce_perf", "-b", "1048576", "-e", "1073741824", "-f", "2", "-g", "8",
                        "-n", "20", "-w", "5", "-c", "1"]


def test_mpirun_argv_verifies_host_keys_and_exports_the_environment() -> None:
    argv = mpirun_argv(["10.0.0.1", "node-b"], 8, binary="/opt/nccl-tests/build/all_reduce_perf",
                       env={"FI_PROVIDER": "efa", "NCCL_DEBUG": "INFO"}, ssh_port=2222, known_hosts="/etc/ssh/ssh_known_hosts",
                       min_bytes=8, max_bytes=1 << 31, iters=10, warmup=2, timeout_s=300)
    assert argv[:4] == ["timeout", "-k", "5", "300"]
    assert argv[argv.index("--host") + 1] == "10.0.0.1:8,node-b:8" and argv[argv.index("-np") + 1] == "16"
    rsh = argv[argv.index("plm_rsh_args") + 1]
    assert "StrictHostKeyChecking=yes" in rsh and "BatchMode=yes" in rsh and "-p 2222" in rsh
    assert "UserKnownHostsFile=/etc/ssh/ssh_known_hosts" in rsh and "=no" not in rsh
    exports = [argv[i + 1] for i, a in enumerate(argv) if a == "-x"]
    assert exports == ["FI_PROVIDER=efa", "NCCL_DEBUG=INFO"]
    tail = argv[argv.index("/opt/nccl-tests/build/all_reduce_perf"):]
    assert tail[tail.index("-g") + 1] == "1" and tail[tail.index("-c") + 1] == "1" and tail[tail.index("-n") + 1] == "10"


@pytest.mark.parametrize("kwargs, message", [
    ({"hosts": ["-oProxyCommand=touch /tmp/x"]}, "not a plain word"),
    ({"hosts": ["a b"]}, "not a plain word"),
    ({"hosts": ["fe80::1"]}, "slot count"),
    ({"hosts": []}, "at least one host"),
    ({"env": {"BAD NAME": "1"}}, "not a valid name"),
    ({"env": {"X": "a\nb"}}, "one line"),
    ({"known_hosts": "/tmp/my known hosts"}, "not a plain word"),
    ({"min_bytes": 1 << 20, "max_bytes": 8}, "below min_bytes"),
    ({"factor": 1}, "factor"),
    ({"iters": 0}, "iters"),
])
def test_mpirun_argv_refuses_input_that_would_change_the_command(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"hosts": ["10.0.0.1"], "env": {}}
    args.update(kwargs)
    hosts = args.pop("hosts")
    with pytest.raises(ValueError, match=message):
        mpirun_argv(hosts, 8, **args)


def test_fabric_env_sets_only_what_each_fabric_needs() -> None:
    efa = fabric_env("efa")
    assert efa["FI_PROVIDER"] == "efa" and "FI_EFA_USE_DEVICE_RDMA" not in efa
    assert fabric_env("efa", gpudirect_rdma=True)["FI_EFA_USE_DEVICE_RDMA"] == "1"
    # aws-ofi-nccl doc/efa-env-var.md: the plugin sets these itself, or they break things
    for env in (fabric_env(k) for k in ("efa", "ib", "roce", "tcp")):
        assert not {"NCCL_PROTO", "RDMAV_FORK_SAFE", "FI_EFA_FORK_SAFE"} & set(env)
        assert env["NCCL_DEBUG"] == "INFO" and "NET" in env["NCCL_DEBUG_SUBSYS"]  # "Using network X" is printed
    assert fabric_env("ib")["NCCL_NET"] == "IB" and fabric_env("tcp")["NCCL_NET"] == "Socket"
    assert fabric_env("roce", gid_index=3)["NCCL_IB_GID_INDEX"] == "3"
    assert "NCCL_DEBUG" not in fabric_env("tcp", debug=False)
    with pytest.raises(ValueError):
        fabric_env("nvlink")  # type: ignore[arg-type]


def test_efa_ranks_get_the_library_path_aws_documents() -> None:
    # AWS EC2 "Test your EFA and NCCL configuration" / DLAMI "Using EFA": ranks started by orted over
    # non-interactive SSH read no profile; without -x LD_LIBRARY_PATH naming aws-ofi-nccl's directory
    # NCCL loads no net plugin and a healthy EFA node runs (and fails the check) over TCP sockets
    path = fabric_env("efa")["LD_LIBRARY_PATH"].split(":")
    assert path == list(EFA_LIBRARY_DIRS)
    assert {"/opt/amazon/ofi-nccl/lib", "/opt/amazon/efa/lib", "/opt/amazon/openmpi/lib"} <= set(path)
    # -x replaces the path orted had: an Open MPI of its own prefix keeps its libmpi first
    hpcx = fabric_env("efa", mpirun="/opt/hpcx/ompi/bin/mpirun")["LD_LIBRARY_PATH"].split(":")
    assert hpcx[:2] == ["/opt/hpcx/ompi/lib", "/opt/hpcx/ompi/lib64"] and hpcx[2:] == list(EFA_LIBRARY_DIRS)
    assert fabric_env("efa", mpirun="/opt/amazon/openmpi/bin/mpirun")["LD_LIBRARY_PATH"].split(":")[0] == \
        "/opt/amazon/openmpi/lib"
    assert "/usr/lib" not in fabric_env("efa", mpirun="/usr/bin/mpirun")["LD_LIBRARY_PATH"].split(":")
    assert all("LD_LIBRARY_PATH" not in fabric_env(k) for k in ("ib", "roce", "tcp"))
    argv = mpirun_argv(["10.0.0.1", "10.0.0.2"], 8, env=fabric_env("efa"))
    assert f"LD_LIBRARY_PATH={':'.join(EFA_LIBRARY_DIRS)}" in [argv[i + 1] for i, a in enumerate(argv) if a == "-x"]


def test_nccl_env_insists_on_a_fabric_only_when_every_node_shares_it() -> None:
    from validators.fabric.rounds import Peer, nccl_env
    from validators.transport import LocalTransport

    efa = {"rdma": {"efa": {"present": True}, "devices": []}}
    ib = {"rdma": {"efa": {"present": False}, "devices": [{"name": "mlx5_0", "ports": [
        {"state": "4: ACTIVE", "link_layer": "InfiniBand"}]}]}}
    bare = {"rdma": {"efa": {"present": False}, "devices": []}}

    def peers(*facts: dict[str, Any]) -> list[Peer]:
        return [Peer(f"n{i}", f"10.0.0.{i + 1}", LocalTransport(), f, instance_type="p5.48xlarge")
                for i, f in enumerate(facts)]

    kind, env = nccl_env(peers(efa, efa), "/opt/amazon/openmpi/bin/mpirun")
    assert kind == "efa" and env["FI_PROVIDER"] == "efa" and env["FI_EFA_USE_DEVICE_RDMA"] == "1" and "NCCL_NET" not in env
    assert nccl_env(peers(bare, bare)) == ("tcp", fabric_env("tcp"))
    # an EFA node beside an InfiniBand one (or one whose probe saw no EFA): NCCL picks per rank; pinning
    # NCCL_NET=Socket would make a healthy fabric run at TCP speed and fail as "slow hardware"
    kind, env = nccl_env(peers(efa, ib))
    assert kind is None and "NCCL_NET" not in env and env["NCCL_DEBUG"] == "INFO"
    assert nccl_env(peers(efa, bare))[1].get("NCCL_NET") is None


# --- catalogue --------------------------------------------------------------------------------

def test_fabric_expectations_match_the_instance_catalogue_and_name_their_source() -> None:
    cat = fabric_catalogue()
    for name, row in cat.nccl_allreduce_internode.items():
        inst = instance(name)
        assert inst is not None and inst.gpus == row.gpus and inst.efa_interfaces > 0, name
        assert row.source and row.at_bytes >= 1 << 30
    models = {i.gpu_model for i in (instance(n) for n in ("p4d.24xlarge", "p5.48xlarge", "p5en.48xlarge")) if i}
    assert {r.gpu_model for r in cat.nccl_allreduce_intranode} <= models
    assert internode_busbw("p5en.48xlarge") is None  # no published measurement: absent on purpose
    p5, p4de = internode_busbw("p5.48xlarge"), internode_busbw("p4de.24xlarge")
    assert p5 is not None and p4de is not None and p5.busbw_gbs > p4de.busbw_gbs
    assert intranode_busbw("h100", 8) is not None and intranode_busbw("H100", 4) is None
    assert rdma_link_gbps("ib_ndr") == 400 and rdma_link_gbps("nonesuch") is None
