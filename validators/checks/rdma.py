"""RDMA port judges: link state, trained rate and width (``network.ib_link``), port error counters
(``network.ib_errors``), link flaps in the logs (``network.ib_flaps``) and whether user space can
use the devices (``network.rdma_stack``). The device count against the instance type is
``network.rdma`` (network_local.py).

What the anchors do and plinth follows: NHC ``check_hw_ib <rate> <dev:port>`` and AzHC's per-size
configs fail a port that is not ACTIVE/LinkUp at the expected rate; gpud's
``EvaluatePortsAndRate`` counts ports that are LinkUp at >= the rate; ibqueryerrors
(infiniband-diags) flags counters over its error_thresholds; AzHC's ``check_ib_link_flapping`` and
gpud fail a port that keeps losing its link. Thresholds and expectations are data
(``policies/data/rdma.yaml``).
"""

from __future__ import annotations

from collections.abc import Sequence

from policies.catalogue import rdma_catalogue
from policies.thresholds import Threshold
from validators.checks import _fabric
from validators.checks._events import counted, window
from validators.checks.base import CheckContext, Facts, check
from validators.checks.compare import at_most, fmt, not_applicable, not_run, section_problem
from validators.checks.remedy import hardware_remedy
from validators.results import CheckResult

_NO_VERBS = "no InfiniBand or RoCE ports on this node"


def _link_remedy(facts: Facts, down: Sequence[_fabric.Port], slow: Sequence[_fabric.Port]) -> str:
    steps = []
    disabled = [p for p in down if p.phys_state == "Disabled"]
    polling = [p for p in down if p.phys_state == "Polling"]
    if disabled:
        steps.append(f"{_fabric.names(disabled)}: physical state Disabled: the port was turned off (by the subnet manager after "
                     "errors, or by an admin: `ibportstate`, `ip link set … up` for RoCE); find out why before enabling it")
    if polling:
        steps.append(f"{_fabric.names(polling)}: physical state Polling: no link partner (cable unplugged, switch port down)")
    if slow:
        steps.append(f"{_fabric.names(slow)}: trained below its rate: `mlxlink -d <dev> -m` shows the cable and the negotiated speed")
    part = "the cable, transceiver or switch port of " + _fabric.names(list(down) + list(slow), 3)
    return "; ".join(steps) + ". " + hardware_remedy(facts, part, metal_first="reseat or replace the cable and check the switch port")


@check("network.ib_link")
def ib_link(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    problem = section_problem(facts, "rdma")
    if problem:
        return not_run("network.ib_link", problem, threshold=threshold)
    rdma = facts["rdma"]
    all_ports = _fabric.ports(facts)
    training, other, kind = _fabric.split(all_ports)
    if kind in ("efa", "none"):
        return not_applicable("network.ib_link", _NO_VERBS + ("; EFA devices are counted by network.rdma" if kind == "efa" else ""),
                              threshold=threshold)
    if rdma.get("error"):
        return not_run("network.ib_link", f"{rdma['error']} ({len(all_ports)} ports listed before it)", threshold=threshold,
                       remediation="Run `ibstat` (or read /sys/class/infiniband) by hand: a device vanished while it was listed.")
    exp = _fabric.expectation(facts, threshold, ctx)
    fabric = "InfiniBand" if kind == "ib" else "RoCE"
    # a down port beside an active one on the same device is most often the unused second port of a
    # dual-port HCA; a down single-port device among active siblings is a lost rail
    spare = [p for p in training if not p.active and any(q.device == p.device and q.active for q in training)]
    down = [p for p in training if not p.active and p not in spare]
    slow: list[tuple[_fabric.Port, str]] = []
    for p in training:
        if not p.active:
            continue
        sib = _fabric.sibling_rate(p, training)
        if exp is not None and p.rate_gbps is not None and p.rate_gbps < exp.fabric.rate_gbps:
            slow.append((p, f"{p.name} trained at {p.trained}, expected {fmt(exp.fabric.rate_gbps)} Gb/s ({exp.name})"))
        elif exp is not None and exp.fabric.width and p.width and p.width != exp.fabric.width:
            slow.append((p, f"{p.name} trained at {p.width}, expected {exp.fabric.width} ({exp.name})"))
        elif sib is not None and p.rate_gbps is not None and p.rate_gbps < sib:
            slow.append((p, f"{p.name} trained at {p.trained} while its siblings ({p.hca_type or 'same model'}) run {fmt(sib)} Gb/s"))
        elif kind == "ib" and exp is None and p.width == "1X" and sib is None:
            slow.append((p, f"{p.name} trained at {p.trained}: an HCA port trains 4X (or 2X on a split cable), never 1X"))
    good = [p for p in training if p.active and p not in [s for s, _ in slow]]
    want = exp.ports if exp is not None and exp.ports else None
    measured = len(good)
    unit = threshold.unit or "ports"
    parts = []
    if exp is not None and not any(p.link_layer == exp.fabric.link_layer for p in training):
        parts.append(f"the training ports are {fabric} ({training[0].link_layer}), expected {exp.fabric.link_layer} ({exp.name}, {exp.source})")
    if down:
        parts.append(f"{len(down)} of {len(training)} {fabric} ports not active: "
                     + ", ".join(f"{p.name} {p.state}/{p.phys_state}" for p in down[:6]))
    parts += [why for _, why in slow[:6]]
    if want is not None and measured < want and not (down or slow):
        parts.append(f"{measured} {fabric} ports, expected {want} ({exp.source if exp else ''})")
    other_down = [p for p in other if not p.active] + spare
    other_slow = [p for p in other if p.active and (_fabric.sibling_rate(p, other) or 0) > (p.rate_gbps or 0)]
    note = ""
    if other_down or other_slow:
        note = "; other RDMA ports (not the training fabric): " + ", ".join(
            [f"{p.name} {p.state}/{p.phys_state}" for p in other_down[:4]] + [f"{p.name} at {p.trained}" for p in other_slow[:4]])
    if parts:
        return CheckResult.make("network.ib_link", "fail", "; ".join(parts) + note, measured=measured,
                                threshold=want or len(training), unit=unit,
                                remediation=_link_remedy(facts, down, [p for p, _ in slow]))
    rates = sorted({p.trained for p in good})
    expected = f" as expected ({exp.name}, {exp.source})" if exp is not None else " (no expectation set: ports judged against their siblings)"
    msg = f"{measured} {fabric} ports ACTIVE/LinkUp at {', '.join(rates)}{expected}"
    if other_down or other_slow:
        return CheckResult.make("network.ib_link", "warn", msg + note, measured=measured, threshold=want or len(training), unit=unit,
                                remediation="If those ports carry storage or front-end traffic: " + _link_remedy(facts, other_down, other_slow))
    other_text = f"; also {len(other)} other RDMA ports ({', '.join(sorted({p.trained for p in other}))})" if other else ""
    return CheckResult.make("network.ib_link", "pass", msg + other_text, measured=measured, threshold=want or len(training), unit=unit)


@check("network.ib_errors")
def ib_errors(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    problem = section_problem(facts, "rdma")
    if problem:
        return not_run("network.ib_errors", problem, threshold=threshold)
    all_ports = _fabric.ports(facts)
    if not all_ports:
        return not_applicable("network.ib_errors", "no RDMA devices on this node", threshold=threshold)
    cat = rdma_catalogue()
    read = [p for p in all_ports if p.counters or p.hw_counters]
    if not read:
        return not_run("network.ib_errors", f"no port counters could be read ({facts['rdma'].get('source')}: they are in "
                       "/sys/class/infiniband/<dev>/ports/<n>/counters)", threshold=threshold)
    over: list[tuple[str, str]] = []  # (severity, text)
    for p in read:
        for name, limit in cat.port_counters.items():
            value = p.counters.get(name)
            if isinstance(value, int) and value > limit.max:
                over.append((limit.severity, f"{p.name} {name} {value} (> {limit.max}: {limit.what})"))
        for name, limit in cat.efa_counters.items():
            value = p.hw_counters.get(name)
            if isinstance(value, int) and value > limit.max:
                over.append((limit.severity, f"{p.name} {name} {value} (> {limit.max}: {limit.what})"))
    fails = [t for s, t in over if s == "fail"]
    warns = [t for s, t in over if s == "warn"]
    unit = threshold.unit or "counters"
    remedy = ("The counters count since the driver loaded (or `perfquery -x -R` cleared them): clear them, run a job, read them again. "
              "Link errors that keep rising mean a marginal link: " + hardware_remedy(
                  facts, "the cable or transceiver", metal_first="reseat or replace the cable/transceiver and check the switch port's counters"))
    if fails:
        return CheckResult.make("network.ib_errors", "fail", "; ".join(fails[:8]) + (f"; also {'; '.join(warns[:4])}" if warns else ""),
                                measured=len(fails), threshold=0, unit=unit, remediation=remedy)
    if warns:
        return CheckResult.make("network.ib_errors", "warn", "; ".join(warns[:8]) + " (congestion or partition policy also cause these)",
                                measured=0, threshold=0, unit=unit, remediation=remedy)
    return CheckResult.make("network.ib_errors", "pass",
                            f"port error counters of {len(read)} ports within ibqueryerrors' thresholds", measured=0, threshold=0, unit=unit)


@check("network.ib_flaps")
def ib_flaps(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    problem = section_problem(facts, "rdma")
    if problem:
        return not_run("network.ib_flaps", problem, threshold=threshold)
    flaps = facts["rdma"].get("flaps")
    if not flaps:
        return not_applicable("network.ib_flaps", _NO_VERBS, threshold=threshold)
    sources = ", ".join(flaps.get("sources") or [])
    if not sources:
        return not_applicable("network.ib_flaps", flaps.get("error") or "neither the kernel log nor the system log was readable",
                              threshold=threshold)
    cutoff, span = window(flaps, threshold, sources)
    by_iface: dict[str, list] = {}
    for e in flaps.get("events") or []:
        if isinstance(e, dict) and isinstance(e.get("iface"), str):
            by_iface.setdefault(e["iface"], []).append(e)
    per_iface = {}
    for iface, events in by_iface.items():
        n, _ = counted(events, int((flaps.get("counts") or {}).get(iface, len(events))), cutoff)
        if n:
            per_iface[iface] = n
    worst = max(per_iface.values(), default=0)
    listing = ", ".join(f"{iface} lost its carrier x{n}" for iface, n in sorted(per_iface.items(), key=lambda kv: -kv[1]))
    older = int(flaps.get("before_boot") or 0)
    tail = f"; {older} from earlier boots not counted" if older else ""
    result = at_most("network.ib_flaps", worst, threshold, what=f"link losses per interface {span}", unit=threshold.unit or "flaps",
                     warn=False, remediation=(
                         "A link that keeps dropping aborts NCCL jobs (transport errors): check the cable, transceiver and switch port "
                         "(`mlxlink`, the switch's port log). " + hardware_remedy(facts, "the flapping link's cable or transceiver",
                                                                               metal_first="reseat or replace the cable")))
    if per_iface:
        return result.model_copy(update={"message": f"{listing} {span} (max {fmt(result.threshold)} per interface){tail}"})
    return result.model_copy(update={"message": f"no carrier loss on {', '.join(flaps.get('interfaces') or []) or 'the IPoIB/RoCE interfaces'} {span}{tail}"})


@check("network.rdma_stack")
def rdma_stack(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    for section in ("rdma", "software"):
        problem = section_problem(facts, section)
        if problem:
            return not_run("network.rdma_stack", problem, threshold=threshold)
    rdma, sw = facts["rdma"], facts["software"]
    devices = rdma.get("devices") or []
    if not devices:
        return not_applicable("network.rdma_stack", "no RDMA devices on this node", threshold=threshold)
    problems = []
    uverbs = int(sw.get("uverbs_devices") or 0)
    if uverbs < len(devices):
        problems.append(f"{uverbs} verbs device nodes for {len(devices)} RDMA devices: ib_uverbs "
                        f"{'is loaded but' if (sw.get('modules') or {}).get('ib_uverbs') else 'is not loaded, so'} "
                        "user space (NCCL's IB transport, libfabric's EFA provider) can't open them")
    efa = rdma.get("efa") or {}
    efa_devs = [d for d in devices if d.get("driver") == "efa"]
    if efa_devs and efa.get("source") != "fi_info":
        problems.append(f"libfabric's EFA provider is not usable: {efa.get('fi_info_error') or 'fi_info gave no answer'}")
    elif efa_devs and int(efa.get("providers") or 0) < len(efa_devs):
        problems.append(f"fi_info lists {efa.get('providers')} EFA endpoints for {len(efa_devs)} EFA devices")
    if problems:
        return CheckResult.make("network.rdma_stack", "fail", "; ".join(problems), measured=False, threshold=True,
                                remediation="Load the verbs modules (`modprobe ib_uverbs`; on AWS reinstall the EFA installer, which also "
                                            "puts fi_info in /opt/amazon/efa/bin), then re-run; containers also need /dev/infiniband passed in.")
    what = f"{uverbs} verbs device nodes for {len(devices)} RDMA devices"
    if efa_devs:
        what += f"; libfabric sees {efa.get('providers')} EFA endpoints"
    return CheckResult.make("network.rdma_stack", "pass", what, measured=True, threshold=True)
