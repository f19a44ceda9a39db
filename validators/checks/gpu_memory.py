"""GPU memory health: uncorrectable ECC errors, dynamic page retirement (before Ampere) and row
remapping (Ampere and later). Pure judges over ``facts["gpu"]["devices"]``.

Sources of truth:

* ECC — NVML ``nvmlDeviceGetTotalEccErrors``: the *volatile* counter counts since the last driver
  load and is cleared by a GPU reset; the *aggregate* one is lifetime and never clears. A GPU whose
  one old error was healed (a page retired, a row remapped) keeps it in its aggregate forever, so
  the aggregate is reported, never failed on its own; DCGM's health watch fails volatile DBEs
  (``DcgmHealthWatch::MonitorMemVolatileDbes``). Hopper and later also report "SRAM Threshold
  Exceeded" (``nvmlEccSramErrorStatus_v1_t.bThresholdExceeded``: "the error threshold of field diag
  is exceeded"): that flag fails the GPU whatever the counters say.
* Page retirement — NVIDIA "Dynamic Page Retirement" (https://docs.nvidia.com/deploy/dynamic-page-retirement/):
  a page is retired after one DBE or two SBEs at one address and the retirement takes effect at the
  next driver load ("Pending Page Blacklist: Yes" → reset the GPU); the table holds 64 pages
  (https://docs.nvidia.com/deploy/a100-gpu-mem-error-mgmt/). DCGM fails a GPU at 63 retired pages
  (``DCGM_LIMIT_MAX_RETIRED_PAGES``, matched to NVIDIA's field diagnostic) and watches the DBE count
  past 15 (``..._SOFT_LIMIT``); Azure's health checks call ≥62 with a pending retirement "table full".
  Retiring pages is how these GPUs heal: a few retired pages pass.
* Row remapping — NVIDIA "GPU Memory Error Management" (A100 and later): a pending remap needs a GPU
  reset; "Remapping Failure Occurred" is NVIDIA's RMA criterion (also DCGM's
  ``MonitorMemRowRemapFailures`` and gpud's ``QualifiesForRMA``). The bank-remap availability
  histogram counts banks by spare rows left: a bank at "None" cannot remap again, so its next
  uncorrectable error is a remapping failure.
"""

from __future__ import annotations

from policies.thresholds import Threshold
from validators.checks import _gpu
from validators.checks.base import CheckContext, Facts, check
from validators.checks.compare import fmt, not_applicable, not_run
from validators.checks.remedy import hardware_remedy
from validators.results import CheckResult

RETIREMENT_LIMIT_DEFAULT = 62  # DCGM fails at 63 retired pages; profile max overrides
DBE_SOFT_LIMIT = 15  # DCGM_LIMIT_MAX_RETIRED_PAGES_SOFT_LIMIT


def _reset(what: str) -> str:
    return (f"Drain the node and reset the GPU (`nvidia-smi -r -i <index>` with no process on it, or reboot) so {what}; "
            "re-run plinth after the reset.")


@check("gpu.ecc_errors")
def gpu_ecc_errors(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _gpu.devices("gpu.ecc_errors", facts, threshold, ctx)
    if early:
        return early
    counted = [d for d in devices if d.get("ecc_uncorrected_volatile") is not None]
    lifetime = [d for d in devices if (d.get("ecc_uncorrected_aggregate") or 0) > 0]
    history = ("; lifetime (aggregate, never cleared) uncorrectable: "
               + ", ".join(f"{_gpu.name(d)} {d['ecc_uncorrected_aggregate']}" for d in lifetime[:8])) if lifetime else ""
    worn = [d for d in devices if d.get("sram_threshold_exceeded")]
    if worn:
        # the one lifetime signal that fails on its own: the driver's verdict that the GPU's SRAM has had more
        # uncorrectable errors than NVIDIA's field diagnostic allows (NVIDIA Xid catalogue, WORKFLOW_XID_48:
        # "If the threshold flag is set, run field diagnostics. Persistent errors indicate ... RMA")
        return CheckResult.make(
            "gpu.ecc_errors", "fail",
            f"SRAM uncorrectable errors past NVIDIA's field-diagnostic threshold (SRAM Threshold Exceeded: Yes) on "
            f"{_gpu.names(worn)}{history}", measured=len(worn), threshold=0, unit="GPUs",
            remediation=hardware_remedy(facts, "the GPU", metal_first="run NVIDIA's field diagnostic on the GPU (from NVIDIA "
                                        "or the server's OEM)"))
    if not counted:
        if any(d.get("mig_mode") == "Enabled" for d in devices):
            # a configuration, not a fault: MIG counts ECC per GPU instance and the driver reports N/A here, so a
            # healthy MIG node must not exit 1 for it (as NVLink in MIG mode); the message says what is unread
            return not_applicable("gpu.ecc_errors", "volatile ECC counters are not reported while MIG is enabled (counted "
                                  "per GPU instance: `nvidia-smi -q -d ECC` on the node)" + history, threshold=threshold)
        if any(d.get("ecc_mode") == "Enabled" for d in devices):
            return not_run("gpu.ecc_errors", "volatile ECC counters not reported" + history,
                           threshold=threshold, remediation="Read `nvidia-smi -q -d ECC` on the node.")
        modes = sorted({str(d.get("ecc_mode")) for d in devices})
        return not_applicable("gpu.ecc_errors", f"volatile ECC counters not reported (ECC mode {', '.join(modes)}: "
                              "consumer GPUs have no ECC)" + history, threshold=threshold)
    limit = threshold.max if threshold.max is not None else 0
    bad = [d for d in counted if d["ecc_uncorrected_volatile"] > limit]
    total = sum(int(d["ecc_uncorrected_volatile"]) for d in counted)
    unit = threshold.unit or "errors"
    if bad:
        detail = ", ".join(f"{_gpu.name(d)} {d['ecc_uncorrected_volatile']}" for d in bad[:8])
        return CheckResult.make(
            "gpu.ecc_errors", "fail",
            f"volatile uncorrectable ECC errors since the driver loaded: {detail} (max {fmt(limit)} per GPU){history}",
            measured=total, threshold=limit, unit=unit,
            remediation=_reset("the volatile counter clears and pending page retirements / row remaps take effect")
            + " If errors come back after the reset: " + hardware_remedy(facts, "the GPU"))
    disabled = [d for d in devices if d.get("ecc_mode") == "Disabled"]
    message = f"no volatile uncorrectable ECC errors on {len(counted)} GPUs{history or '; none in their lifetime either'}"
    if disabled and len(disabled) < len(devices):
        return CheckResult.make("gpu.ecc_errors", "warn", message + f"; ECC disabled on {_gpu.names(disabled)}",
                                measured=total, threshold=limit, unit=unit,
                                remediation="Enable ECC on every GPU: `sudo nvidia-smi -e 1`, then reboot.")
    return CheckResult.make("gpu.ecc_errors", "pass", message, measured=total, threshold=limit, unit=unit)


@check("gpu.retired_pages")
def gpu_retired_pages(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _gpu.devices("gpu.retired_pages", facts, threshold, ctx)
    if early:
        return early
    reported = [d for d in devices if d.get("retired_pages_count") is not None or d.get("retired_pages_pending") is not None]
    if not reported:
        return not_applicable("gpu.retired_pages", "page retirement not reported (Ampere and later GPUs remap rows instead: "
                              "see gpu.row_remapping; GPUs without ECC retire nothing)", threshold=threshold)
    limit = int(threshold.max) if threshold.max is not None else RETIREMENT_LIMIT_DEFAULT
    unit = threshold.unit or "pages"
    full = [d for d in reported if (d.get("retired_pages_count") or 0) > limit]
    pending = [d for d in reported if d.get("retired_pages_pending") and d not in full]
    worst = max((d.get("retired_pages_count") or 0 for d in reported), default=0)

    def counts(devs: list) -> str:
        return ", ".join(f"{_gpu.name(d)} {d.get('retired_pages_count')}" for d in devs[:8])

    if full or pending:
        parts, fixes = [], []
        if full:
            parts.append(f"retirement table full (more than {limit} of the 64 pages retired) on {counts(full)}")
            fixes.append(f"Replace {_gpu.names(full)}: a GPU that cannot retire more pages cannot heal. "
                         + hardware_remedy(facts, "the GPU"))
        if pending:
            parts.append(f"page retirement pending on {_gpu.names(pending)} (takes effect at the next driver load)")
            fixes.append(_reset(f"the pending retirement on {_gpu.names(pending)} takes effect"))
        return CheckResult.make("gpu.retired_pages", "fail", "; ".join(parts), measured=worst, threshold=limit,
                                unit=unit, remediation=" ".join(fixes))
    soft = [d for d in reported if (d.get("retired_pages_dbe") or 0) > DBE_SOFT_LIMIT]
    retired = [d for d in reported if d.get("retired_pages_count")]
    summary = f"retired pages: {counts(retired)}" if retired else "no retired pages"
    if soft:
        return CheckResult.make(
            "gpu.retired_pages", "warn",
            f"{summary}; more than {DBE_SOFT_LIMIT} pages retired for double-bit errors on {_gpu.names(soft)} "
            "(DCGM's soft limit: more than one new DBE retirement a week past it fails the GPU)",
            measured=worst, threshold=limit, unit=unit,
            remediation="Watch the DBE retired-page count weekly; plan to replace the GPU if it keeps growing.")
    return CheckResult.make("gpu.retired_pages", "pass",
                            f"{summary} on {len(reported)} GPUs; none pending, all below {limit + 1} (retiring pages is how "
                            "these GPUs heal)", measured=worst, threshold=limit, unit=unit)


@check("gpu.row_remapping")
def gpu_row_remapping(facts: Facts, threshold: Threshold, ctx: CheckContext) -> CheckResult:
    devices, early = _gpu.devices("gpu.row_remapping", facts, threshold, ctx)
    if early:
        return early
    reported = [d for d in devices if d.get("remapped_rows_failure") is not None or d.get("remapped_rows_pending") is not None]
    if not reported:
        if all(d.get("mig_mode") == "Enabled" for d in devices):
            # the driver prints "Remapped Rows: N/A" in MIG mode (real 590.48 capture): a configuration, not a fault
            return not_applicable("gpu.row_remapping", "row remapping is not reported while MIG is enabled (check "
                                  "`nvidia-smi -q -d ROW_REMAPPER` with MIG disabled, e.g. at the next maintenance)",
                                  threshold=threshold)
        return not_applicable("gpu.row_remapping", "row remapping not reported (GPUs before Ampere retire pages instead: "
                              "see gpu.retired_pages; GPUs without ECC remap nothing)", threshold=threshold)
    failed = [d for d in reported if d.get("remapped_rows_failure")]
    pending = [d for d in reported if d.get("remapped_rows_pending") and d not in failed]
    exhausted = [d for d in reported if ((d.get("remap_histogram") or {}).get("none") or 0) > 0]
    remapped = [d for d in reported if (d.get("remapped_rows_uncorrectable") or 0) + (d.get("remapped_rows_correctable") or 0) > 0]
    summary = ("rows remapped: " + ", ".join(
        f"{_gpu.name(d)} {d.get('remapped_rows_uncorrectable') or 0} uncorrectable / {d.get('remapped_rows_correctable') or 0} correctable"
        for d in remapped[:8])) if remapped else "no rows remapped"
    if failed or pending:
        parts, fixes = [], []
        if failed:
            parts.append(f"row remapping failed on {_gpu.names(failed)} (NVIDIA's RMA criterion)")
            fixes.append(f"Replace {_gpu.names(failed)}: its memory can no longer hide bad rows. " + hardware_remedy(facts, "the GPU"))
        if pending:
            parts.append(f"row remap pending on {_gpu.names(pending)} (applied at the next GPU reset)")
            fixes.append(_reset(f"the pending remap on {_gpu.names(pending)} is applied"))
        return CheckResult.make("gpu.row_remapping", "fail", "; ".join(parts) + f"; {summary}",
                                measured=len(failed) + len(pending), threshold=0, unit="GPUs", remediation=" ".join(fixes))
    if exhausted:
        banks = ", ".join(f"{_gpu.name(d)} {d['remap_histogram']['none']}" for d in exhausted[:8])
        return CheckResult.make("gpu.row_remapping", "warn",
                                f"memory banks with no spare row left: {banks}; the next uncorrectable error in such a bank "
                                f"is a remapping failure (RMA); {summary}", measured=len(exhausted), threshold=0, unit="GPUs",
                                remediation="Plan to replace these GPUs; watch `nvidia-smi -q -d ROW_REMAPPER` for a failure.")
    return CheckResult.make("gpu.row_remapping", "pass",
                            f"no pending or failed row remaps on {len(reported)} GPUs; {summary}", measured=0, threshold=0, unit="GPUs")
