"""DCGM diagnostics (``dcgmi diag``): the command line, both output forms, and the judge.

``dcgmi diag -r N`` runs NVIDIA's validation suite (deployment checks at level 1, PCIe and GPU memory
at 2, stress tests at 3, long burn-in at 4). AzHC, GCM and SageMaker HyperPod's deep health checks
run it before a node takes work. Both parsers return the same dict::

    {"ok": bool, "error": str | None,        # a result was read; else why not (dcgmi's own message)
     "level": int | None,                    # as given, else inferred from the plugins that ran
     "dcgm_version": str | None, "driver_version": str | None,
     "gpus": [int],                          # GPU ids the run covered
     "tests": [{"name": str, "category": str,
                "status": "pass" | "fail" | "warn" | "skip" | "not run",
                "gpus": {"<id>": {"status", "info": [str], "warnings": [str]}},
                "info": [str], "warnings": [str]}]}   # messages not tied to one GPU

The parsers live in validators/fabric/dcgm_output.py (JSON of DCGM 3.x and 4.x, the text table).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from policies.thresholds import Threshold
from validators.checks.compare import fmt, not_run
from validators.fabric.dcgm_output import parse_diag_json, parse_diag_text
from validators.fabric.toolout import bounded, check_positive, first_remedy, snippet
from validators.results import CheckResult

__all__ = ["diag_argv", "evaluate", "parse_diag_json", "parse_diag_text"]


def diag_argv(level: int, *, json_output: bool = True, gpus: Sequence[int] | None = None,
              parameters: Mapping[str, str] | None = None, timeout_s: float | None = None) -> list[str]:
    """``dcgmi diag -r N [-j]``: level 1 (deployment, seconds) to 4 (burn-in, over an hour); ``gpus``
    limits the run (``-i``), ``parameters`` are plugin parameters (``-p pcie.gpu_nvlinks_expected_up=12``,
    as awsome-distributed-training's EFA cheatsheet runs on p4de), ``timeout_s`` bounds it."""
    check_positive(level, "level")
    if level > 4:
        raise ValueError(f"dcgmi diag levels are 1 to 4, got {level}")
    argv = ["dcgmi", "diag", "-r", str(level)]
    if gpus:
        argv += ["-i", ",".join(str(check_positive(g, "gpu id", minimum=0)) for g in gpus)]
    if parameters:
        pairs = []
        for key, value in sorted(parameters.items()):
            if not re.fullmatch(r"[\w.]+", key) or not re.fullmatch(r"[\w.,-]+", str(value)):
                raise ValueError(f"dcgmi parameter {key}={value!r} is not of the form plugin.name=value")
            pairs.append(f"{key}={value}")
        argv += ["-p", ";".join(pairs)]
    if json_output:
        argv.append("-j")
    return bounded(argv, timeout_s)


# --- the judge --------------------------------------------------------------------------------

_REMEDIES = (
    ("system not yet initialized",
     ("CUDA cannot start on this NVSwitch system: nvidia-fabricmanager is not running or does not match the driver "
     "(`systemctl status nvidia-fabricmanager`; same version as the driver), then rerun the diagnostic")),
    ("persistence mode", "Enable persistence mode (`nvidia-smi -pm 1`, or the nvidia-persistenced service)"),
    ("connect", "Start the DCGM host engine (`systemctl start nvidia-dcgm` or nv-hostengine), then rerun"),
    ("time bound", "Give the diagnostic more time (level 3 takes tens of minutes), or look for the GPU it hung on"),
    ("not found", "Install DCGM (datacenter-gpu-manager) on the node, or run it from the nvidia/dcgm container"),
)
_FAIL_REMEDY = ("Drain the node: DCGM found a GPU fault. Act on DCGM's reason per GPU (reset the GPU, check Xid errors, "
                "reseat or RMA), then rerun `dcgmi diag -r 3`")


def _remedy(texts: Iterable[str], default: str | None) -> str | None:
    return first_remedy(" ".join(texts), _REMEDIES) or default


def _failure_text(test: Mapping[str, Any]) -> str:
    """``GPU Memory failed on GPUs 0-7: <DCGM's reason>``: the reason per GPU, or once when every GPU
    gave the same one (its leading "GPU n" dropped)."""
    verb = "failed" if test["status"] == "fail" else "warned"
    bad = {k: g for k, g in test["gpus"].items() if g["status"] == test["status"]}
    fallback = (test["warnings"] or ["DCGM gave no reason"])[0]
    reasons = {k: snippet(re.sub(r"^\s*GPU \d+\s*", "", (g["warnings"] or [fallback])[0]), 300) for k, g in bad.items()}
    where = f" on GPU{'s' if len(bad) != 1 else ''} {_ranges(bad)}" if bad else ""
    if len(set(reasons.values())) <= 1:
        return f"{test['name']} {verb}{where}: {next(iter(reasons.values()), fallback)}"
    return f"{test['name']} {verb}{where}: " + "; ".join(f"GPU {k}: {r}" for k, r in reasons.items())


def _ranges(ids: Iterable[str]) -> str:
    numbers = sorted(int(i) for i in ids if i.isdigit())
    others = sorted(i for i in ids if not i.isdigit())
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(f"{start}-{n}" if n - start >= 2 else ", ".join(str(x) for x in range(start, n + 1)))
            start = None
    return ", ".join(parts + others)


def evaluate(check_id: str, diag: Mapping[str, Any] | None, threshold: Threshold) -> CheckResult:
    """Judge one ``dcgmi diag`` result: any failed test fails the check with DCGM's own reason per GPU;
    a warning warns; tests DCGM skipped are named and make it a ``warn``, because skipped hardware was
    not verified (not a failure, not a pass of those tests). ``threshold.min``, when set, is the
    lowest diagnostic level the profile accepts."""
    if not isinstance(diag, Mapping):
        return not_run(check_id, "no DCGM diagnostic result", threshold=threshold)
    if not diag.get("ok"):
        reason = str(diag.get("error") or "dcgmi diag did not complete")
        return not_run(check_id, f"DCGM diagnostic: {reason}", threshold=threshold,
                       remediation=_remedy([reason], "Run `dcgmi diag -r 1` by hand on the node and read its error"))
    tests: list[Mapping[str, Any]] = list(diag.get("tests") or [])
    level = diag.get("level")
    version = f"DCGM {diag['dcgm_version']}, " if diag.get("dcgm_version") else ""
    label = f"dcgmi diag -r {level}" if level else "dcgmi diag"
    failed = [t for t in tests if t["status"] == "fail"]
    if failed:
        texts = [_failure_text(t) for t in failed]
        remedy = _remedy((w for t in failed for g in t["gpus"].values() for w in g["warnings"]), _FAIL_REMEDY)
        return CheckResult.make(check_id, "fail", f"{label} ({version}{len(failed)} of {len(tests)} tests failed): "
                                + " | ".join(texts), measured=len(failed), threshold=0, unit="failed tests",
                                remediation=remedy)
    if threshold.min is not None and isinstance(level, int) and level < threshold.min:
        return CheckResult.make(check_id, "fail", f"{label} ran, but the profile needs level >= {fmt(threshold.min)}",
                                measured=level, threshold=threshold.min, unit="level",
                                remediation=f"Run `dcgmi diag -r {fmt(threshold.min)}`")
    warned = [t for t in tests if t["status"] == "warn"]
    skipped = [t["name"] for t in tests if t["status"] in ("skip", "not run")]
    notes = []
    if warned:
        notes.append("warnings: " + " | ".join(_failure_text(t) for t in warned))
    if skipped:
        notes.append(f"{len(skipped)} test{'s' if len(skipped) != 1 else ''} skipped or not run by DCGM, not verified: "
                     + ", ".join(skipped))
    passed = sum(1 for t in tests if t["status"] == "pass")
    summary = f"{label} ({version}{passed} of {len(tests)} tests passed on {len(diag.get('gpus') or [])} GPUs)"
    if notes:
        remedy = _remedy((w for t in warned for w in t["warnings"] + [x for g in t["gpus"].values() for x in g["warnings"]]),
                         "Skipped tests often mean DCGM does not support this GPU model for that plugin: check DCGM's "
                         "support matrix, or verify that part another way")
        return CheckResult.make(check_id, "warn", f"{summary}; " + "; ".join(notes), measured=passed, unit="passed tests",
                                remediation=remedy)
    return CheckResult.make(check_id, "pass", summary, measured=passed, unit="passed tests")
