"""`plinth strategy`: the seed's decision matrix, a starter stack file per strategy, and the command.

The matrix (seed): data sensitivity high -> hybrid; latency requirement under 20 ms -> edge-centric;
bursty workload -> cloud-first. Signals can conflict, so the order is a choice, made here once:

1. **Sensitivity first.** Sovereignty is a legal/contractual constraint that no amount of money or
   engineering lifts: if data must stay on your hardware, cloud-first and a central cloud lakehouse
   are off the table. Hybrid keeps data on-prem (or pinned to one region with KMS) and still bursts.
2. **Latency next.** Under 20 ms end to end is physics: a round trip to a cloud region usually costs
   that much before inference even starts, so only compute beside the data (edge) meets it.
3. **Burstiness last.** Elastic, pay-per-use capacity is an optimisation, not a constraint.
4. **No signal:** cloud-first, because nothing forces on-prem or edge and elastic capacity is the
   cheapest way to learn what the steady load really is.

Secondary signals that lost are named in the reason, so the user sees what was traded away.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path

from policies.errors import ConfigError
from stacks import config as stack_config

EDGE_LATENCY_MS = 20.0  # seed: real-time inference at the edge under 20 ms
SENSITIVITIES = ("high", "normal")
PATTERNS = ("bursty", "steady")
_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")  # Pulumi stack names, no path parts


def _check_choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    normalized = value.strip().lower()
    if normalized not in allowed:
        raise ConfigError(f"{option}: expected {' or '.join(allowed)}, got {value!r}")
    return normalized


def _check_latency(latency_ms: float | None) -> float | None:
    if latency_ms is None:
        return None
    if not math.isfinite(latency_ms) or latency_ms <= 0:
        raise ConfigError(f"--latency-ms: expected a positive number of milliseconds, got {latency_ms!r}")
    return latency_ms


def choose_strategy(data_sensitivity: str, workload_pattern: str, latency_ms: float | None) -> tuple[str, str]:
    """Pure: the strategy for these answers and a one-paragraph reason. Bad values -> ConfigError."""
    sensitivity = _check_choice("--data-sensitivity", data_sensitivity, SENSITIVITIES)
    pattern = _check_choice("--workload-pattern", workload_pattern, PATTERNS)
    latency = _check_latency(latency_ms)
    tight_latency = latency is not None and latency < EDGE_LATENCY_MS

    if sensitivity == "high":
        reason = (
            "data sensitivity is high: data stays on your own hardware (GPUs enabled on your existing "
            "Kubernetes cluster) or pinned to one region with KMS; the cloud only adds burst capacity, "
            "scaled from 0"
        )
        notes = []
        if tight_latency:
            notes.append(f"latency {latency:g} ms < {EDGE_LATENCY_MS:g} ms also asks for edge inference: "
                         "add an edge-centric stack for the serving path once data rules allow it")
        if pattern == "bursty":
            notes.append("the bursty load is served by the burst node pool (spot, min 0)")
        return "hybrid", reason + ("; " + "; ".join(notes) if notes else "") + "."
    if tight_latency:
        reason = (
            f"latency requirement {latency:g} ms is under {EDGE_LATENCY_MS:g} ms: a round trip to a cloud "
            "region costs about that much, so inference runs on devices beside the data (Jetson, "
            "Raspberry Pi, Intel NUC) with a small central lakehouse for data and models"
        )
        if pattern == "bursty":
            reason += "; training bursts can still use a cloud-first stack"
        return "edge-centric", reason + "."
    if pattern == "bursty":
        return "cloud-first", (
            "the workload is bursty: elastic GPU node pools (spot for interruptible work, scaled from 0) "
            "pay only while jobs run."
        )
    return "cloud-first", (
        "no constraint forces on-prem or edge (sensitivity normal, no latency under "
        f"{EDGE_LATENCY_MS:g} ms, steady load): start elastic in the cloud and revisit reserved or "
        "on-prem capacity once utilisation stays above the 70% target."
    )


_HEADER = """\
# plinth stack: {strategy}. Written by `plinth strategy`; edit, then:
#   pulumi stack init {stack}   (the file name stacks/Pulumi.{stack}.yaml picks the stack)
#   pulumi install && pulumi up
# Every key is documented in stacks/config.py; docs/strategies.md explains the strategy.
# Required tags: owner and cost-center (the policy pack refuses resources without them).
config:
  aws:region: us-east-1
  plinth:strategy: {strategy}
"""

_BODIES = {
    "cloud-first": """\
  plinth:profile: distributed_training
  plinth:prefix: ml
  plinth:tags: {owner: ml-platform, cost-center: "cc-0000"}
  plinth:budgetUsdPerHour: 100
  # pulumi up drives the Kubernetes API too: public only to your egress CIDRs (203.0.113.0/24 is a
  # documentation range), or endpointPublicAccess: false with deployFromVpc: true inside the VPC.
  plinth:cluster: {endpointPublicAccess: true, publicAccessCidrs: [203.0.113.0/24]}
  # One managed node group per pool. Training pools get the cluster placement group and EFA, in the
  # zone you name (the one with capacity for the instance type).
  plinth:gpuPools:
    - {name: train, instanceType: p4d.24xlarge, minSize: 0, desiredSize: 0, maxSize: 2, profile: distributed_training, availabilityZone: us-east-1a}
    # SPOT only for interruptible (checkpointing) work.
    - {name: infer, instanceType: g6.xlarge, minSize: 0, desiredSize: 1, maxSize: 4, capacityType: SPOT, interruptible: true, profile: real_time_inference}
""",
    "hybrid": """\
  plinth:profile: multi_gpu_single_node
  plinth:prefix: ml-hybrid
  plinth:tags: {owner: ml-platform, cost-center: "cc-0000"}
  # The existing (on-prem) cluster: GPUs enabled there through this kubeconfig context.
  plinth:kubernetes:
    context: onprem
    gpuOperator: true
    teams:
      - {name: research, gpus: 8}
    # Objects already on that cluster, adopted instead of created: e.g. [namespace/research]
    existing: []
  # On-prem address space. Cloud burst (below) needs a path from it: a site-to-site VPN to your
  # router's public IPv4 address (documentation, private and loopback addresses are refused), or
  # onPremLink: external when Direct Connect or a transit gateway already reaches the VPC.
  plinth:network:
    onPremCidr: 10.100.0.0/16
    # vpn: {customerGatewayIp: <your router's public IPv4 address>, bgpAsn: 65010}
  # The burst cluster's API stays private: pulumi up runs on-prem and reaches it over the VPN.
  plinth:cluster: {deployFromVpc: true}
  # Cloud burst capacity, scaled from 0 by the cluster autoscaler: uncomment once network.vpn (or
  # onPremLink) is set.
  # plinth:gpuPools:
  #   - {name: burst, instanceType: g6e.12xlarge, minSize: 0, desiredSize: 0, maxSize: 2, capacityType: SPOT, interruptible: true, profile: multi_gpu_single_node}
""",
    "edge-centric": """\
  plinth:profile: edge_inference
  plinth:prefix: ml-edge
  plinth:tags: {owner: ml-platform, cost-center: "cc-0000"}
  plinth:edge:
    group: edge-fleet
    devices:
      # csr: the device's certificate request, made on the device so its key never leaves it
      # (openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout edge-01.key -subj /CN=ml-edge-edge-01)
      - {name: edge-01, hardware: jetson, csr: certs/edge-01.csr}
    # Optional: the inference workload, deployed to the edge cluster (k3s etc.) of this context.
    # workload: {image: registry.example.com/edge-infer:1.0.0, context: edge}
  plinth:lakehouse:
    zones: [raw, models]
""",
}


def starter_stack_yaml(strategy: str, stack: str | None = None) -> str:
    """A commented starter stack file for ``strategy`` that loads with ``load_stack_file``."""
    if strategy not in _BODIES:
        raise ConfigError(f"strategy: expected one of {', '.join(_BODIES)}, got {strategy!r}")
    return _HEADER.format(strategy=strategy, stack=stack or strategy) + _BODIES[strategy]


def write_stack_file(path: Path, text: str, force: bool) -> None:
    """Write atomically (temp file in the same directory, then rename), mode 0644.

    Without ``force`` the final step is ``os.link``, which fails if the target exists: no window in
    which a concurrent writer's file could be clobbered."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not force:
        raise ConfigError(f"{path}: already exists; pass --force to overwrite it")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o644)  # mkstemp creates 0600; stack files are shared, committed config
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise ConfigError(f"{path}: already exists; pass --force to overwrite it") from None
    finally:
        tmp.unlink(missing_ok=True)


def run_strategy(
    data_sensitivity: str,
    workload_pattern: str,
    latency_ms: float | None,
    write_stack: str | None,
    force: bool,
) -> int:
    """`plinth strategy`: print the choice and why; optionally write a starter stack file."""
    from rich.console import Console

    strategy, reason = choose_strategy(data_sensitivity, workload_pattern, latency_ms)
    if write_stack is not None and not _STACK_NAME.match(write_stack):
        raise ConfigError(
            f"--write-stack: expected a stack name (letters, digits, '-', '_', '.'), got {write_stack!r}"
        )
    out = Console()
    out.print(f"[bold]strategy:[/] [green]{strategy}[/]", highlight=False)
    out.print(f"[bold]why:[/] {reason}", highlight=False, soft_wrap=True)
    if write_stack is None:
        out.print("next: add --write-stack <name> to write a starter stacks/Pulumi.<name>.yaml",
                  highlight=False, markup=False, soft_wrap=True)
        return 0
    path = stack_config.STACKS_DIR / f"Pulumi.{write_stack}.yaml"
    text = starter_stack_yaml(strategy, write_stack)
    write_stack_file(path, text, force)
    stack_config.load_stack_file(path)  # what we wrote must load: fail loudly here, not at `pulumi up`
    out.print(f"wrote {path}", highlight=False, markup=False, soft_wrap=True)
    out.print(f"next: pulumi stack init {write_stack} && pulumi up   (or offline: plinth preview --stack {write_stack})",
              highlight=False, markup=False, soft_wrap=True)
    return 0
