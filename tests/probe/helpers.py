"""Shared helpers for probe and judge tests: the real recorded fixtures, a fake-tools PATH, and
running the probe exactly as a transport would (same argv, script on stdin)."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from validators.probe import ProbeOptions, parse_probe_output, probe_command
from validators.transport.base import CommandResult

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "real"
PY38 = Path.home() / ".pyenv" / "versions" / "3.8.18" / "bin" / "python3"
# a node's system python3; pinning it skips version-manager shims (pyenv adds ~150 ms per run)
SYSTEM_PY = Path("/usr/bin/python3")


def fixture(rel: str) -> Path:
    path = FIXTURES / rel
    if not path.exists():
        pytest.skip(f"real fixture {rel} not present (../shared/fixtures/real is beside the project in dev and CI)")
    return path


def fixture_text(rel: str) -> str:
    return fixture(rel).read_text()


def fake_tool(bin_dir: Path, name: str, script: str) -> Path:
    """An executable `name` in bin_dir running the given /bin/sh script body."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def fake_nvidia_smi(bin_dir: Path, *, text: Path | None = None, xml: Path | None = None, nvlink: Path | None = None,
                    table: Path | None = None, csv: Path | None = None, nvlink_errors: Path | None = None,
                    topo: Path | None = None, fail_with: Path | None = None, exit_code: int = 9, sleep_s: float = 0) -> Path:
    """A `nvidia-smi` that replays recorded output: `-q -x` -> xml, `-q` -> text, `--query-gpu=…` ->
    csv, no arguments -> table, `nvlink -s` / `nvlink -e` / `topo -m` -> nvlink / nvlink_errors / topo;
    any of them absent -> exit 6 with a message (so the probe falls back, as with a real driver that
    lacks a feature). `fail_with`: print that file and exit `exit_code` for everything."""
    q = shlex.quote
    if fail_with is not None:
        return fake_tool(bin_dir, "nvidia-smi", f"cat {q(str(fail_with))}\nexit {exit_code}\n")
    def serve(path: Path | None, what: str) -> str:
        return f"cat {q(str(path))}" if path else f"echo {q('no recorded ' + what)} >&2; exit 6"
    body = (f"sleep {sleep_s}\n" if sleep_s else "") + f"""case "$*" in
  "-q -x") {serve(xml, 'XML')} ;;
  "-q") {serve(text, '-q text')} ;;
  --query-gpu=*) {serve(csv, 'query-gpu CSV')} ;;
  "") {serve(table, 'table')} ;;
  "nvlink -s") {serve(nvlink, 'nvlink status')} ;;
  "nvlink -e") {serve(nvlink_errors, 'nvlink errors')} ;;
  "topo -m") {serve(topo, 'topo -m')} ;;
  *) echo "unexpected args: $*" >&2; exit 7 ;;
esac
"""
    return fake_tool(bin_dir, "nvidia-smi", body)


def fake_dmesg(bin_dir: Path, log: Path | None = None, *, denied: bool = False) -> Path:
    if denied:
        return fake_tool(bin_dir, "dmesg", "echo 'dmesg: read kernel buffer failed: Operation not permitted' >&2\nexit 1\n")
    assert log is not None
    return fake_tool(bin_dir, "dmesg", f"cat {shlex.quote(str(log))}\n")


def probe_env(bin_dir: Path | None = None, python: Path | None = None) -> dict[str, str]:
    """PATH with the fake tools first; `python3` pinned (the system one by default; 3.8 to prove
    the probe runs there)."""
    env = dict(os.environ)
    if python is None and SYSTEM_PY.exists():
        python = SYSTEM_PY
    parts = []
    if bin_dir is not None:
        parts.append(str(bin_dir))
    if python is not None:
        pydir = (bin_dir or Path("/nonexistent")).parent / "pybin"
        pydir.mkdir(parents=True, exist_ok=True)
        link = pydir / "python3"
        if not link.exists():
            link.symlink_to(python)
        parts.insert(0, str(pydir))
    env["PATH"] = os.pathsep.join(parts + [env.get("PATH", "/usr/bin:/bin")])
    return env


def run_raw(opts: ProbeOptions, env: dict[str, str], argv_override: list[str] | None = None, timeout: float = 60) -> CommandResult:
    argv, stdin = probe_command(opts)
    t0 = time.perf_counter()
    proc = subprocess.run(argv_override or argv, input=stdin, env=env, capture_output=True, timeout=timeout, check=False)
    return CommandResult(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0)


def run_probe(opts: ProbeOptions, env: dict[str, str]) -> dict:
    return parse_probe_output(run_raw(opts, env))


def quiet_options(tmp_path: Path, **kw: object) -> ProbeOptions:
    """Deterministic options for tests: no pynvml, small builtin disk test in tmp_path, no
    fallback kernel or system logs (no journal either: a fake `dmesg` decides what the kernel log says), no Fabric
    Manager log, a short window between the two reads of the GPU counters."""
    base: dict = {"disk_path": str(tmp_path), "disk_test_mb": 8, "use_fio": False, "use_pynvml": False, "step_timeout_s": 10.0,
                  "kmsg_path": str(tmp_path / "no-kmsg"), "kernel_log_paths": (), "system_log_paths": (), "use_journal": False,
                  "gpu_sample_window_s": 0.1, "fabricmanager_log": str(tmp_path / "no-fabricmanager.log")}
    base.update(kw)
    return ProbeOptions(**base)
