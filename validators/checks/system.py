"""System judges: physical CPU cores, memory, clock synchronisation, the Python data stack."""

from __future__ import annotations

from policies.thresholds import Threshold
from validators.checks.base import CheckContext, Facts, check
from validators.checks.compare import at_least, expect_equal, not_run, section_problem
from validators.results import CheckResult

# what "the Python data stack importable" (the seed's audit) requires; torch is reported but
# optional: GPU workloads usually bring it in their container image
REQUIRED_DATA_STACK = ("numpy", "pandas", "pyarrow")


@check("system.cpu_cores")
def cpu_cores(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    problem = section_problem(facts, "system")
    if problem:
        return not_run("system.cpu_cores", problem, threshold=threshold)
    system = facts["system"]
    result = at_least(
        "system.cpu_cores", system.get("cpu_physical_cores"), threshold, what="physical CPU cores", warn=False,
        unit=threshold.unit or "cores",
        remediation="Pick an instance size with more cores: data loading and preprocessing starve GPUs on small CPUs.",
    )
    logical = system.get("cpu_logical")
    if logical and result.status != "error":
        result = result.model_copy(update={"message": result.message + f"; {logical} logical"})
    return result


@check("system.memory")
def memory(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    problem = section_problem(facts, "system")
    if problem:
        return not_run("system.memory", problem, threshold=threshold)
    system = facts["system"]
    # installed memory (online blocks) when known: MemTotal is ~2% lower (kernel reservations),
    # which would fail a 64 GiB machine against a 64 GiB floor
    installed = system.get("memory_installed_gib")
    measured = installed if installed is not None else system.get("memory_gib")
    what = "installed memory" if installed is not None else "memory (MemTotal)"
    return at_least("system.memory", measured, threshold, what=what, unit=threshold.unit or "GiB",
                    remediation="Pick an instance size with more memory (data loaders, pinned buffers, checkpoints).")


@check("system.clock_sync")
def clock_sync(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    problem = section_problem(facts, "system")
    if problem:
        return not_run("system.clock_sync", problem, threshold=threshold)
    system = facts["system"]
    synced = system.get("clock_synced")
    if synced is None:
        return not_run("system.clock_sync", "clock synchronisation state unknown (no adjtimex, timedatectl or chronyc answer)",
                       threshold=threshold, remediation="Run chronyd or systemd-timesyncd (AWS: the Amazon Time Sync Service, 169.254.169.123).")
    result = expect_equal("system.clock_sync", bool(synced), threshold, what="system clock synchronised",
                          remediation="Run chronyd or systemd-timesyncd and check `chronyc tracking` (AWS: 169.254.169.123).")
    return result.model_copy(update={"message": result.message + f" (per {system.get('clock_source')})"})


@check("system.data_stack")
def data_stack(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    problem = section_problem(facts, "system")
    if problem:
        return not_run("system.data_stack", problem, threshold=threshold)
    stack = facts["system"].get("data_stack")
    if not isinstance(stack, dict):
        return not_run("system.data_stack", "probe did not report the Python data stack", threshold=threshold)
    missing = [name for name in REQUIRED_DATA_STACK if not stack.get(name)]
    present = [name for name, ok in stack.items() if ok]
    python = facts["system"].get("python") or "?"
    result = expect_equal("system.data_stack", not missing, threshold, what="Python data stack importable",
                          remediation=f"pip install {' '.join(missing)} for the node's python3 (or run workloads from an image that has them).")
    if missing:
        return result.model_copy(update={"message": f"python3 {python} cannot import {', '.join(missing)}"
                                         + (f" (has {', '.join(present)})" if present else "")})
    return result.model_copy(update={"message": f"python3 {python} can import {', '.join(present)}"})
