"""How each tool is invoked against a fleet, and how the harness checks that every host answered
(a fast run that lost hosts is not a result). Wall time is from fork to reap of the whole command,
start-up included, because that is what a user waits for.

Tools: plinth (CLI as shipped, and the quick probe), ansible-core (own venv, forks = N, its default
ControlPersist but a fresh control directory per run, so no run rides on the previous one's
connections), pdsh (``-R ssh``, fanout = N: one handshake + one exec per host, the floor), and
testinfra (paramiko backend; pytest-xdist workers when installed, else sequential).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.hosts import LoopbackFleet
from benchmarks.stats import ProcResult, run_measured

REPO = Path(__file__).resolve().parents[1]
PLINTH = REPO / ".venv" / "bin" / "plinth"
ANSIBLE_VENV = REPO / "benchmarks" / ".venv-ansible"
ANSIBLE = ANSIBLE_VENV / "bin" / "ansible"


@dataclass
class ToolRun:
    wall_s: float
    ok: bool
    detail: str = ""  # why not ok (hosts lost, exit code, stderr tail)
    node_durations: list[float] = field(default_factory=list)  # plinth: per-node connect + probe
    maxrss_kb: int = 0
    peak_fds: int | None = None


@dataclass
class Workspace:
    """Per-N files every tool reads: an inventory, an ssh_config, an Ansible INI."""

    fleet: LoopbackFleet
    n: int
    dir: Path

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.yaml"

    @property
    def ssh_config(self) -> Path:
        return self.dir / "ssh_config"

    @property
    def ansible_inventory(self) -> Path:
        return self.dir / "ansible.ini"

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.fleet.entries(self.n)]


def make_workspace(fleet: LoopbackFleet, n: int) -> Workspace:
    ws = Workspace(fleet, n, fleet.workdir / f"n{n}")
    ws.dir.mkdir(parents=True, exist_ok=True)
    fleet.write_inventory(n, ws.inventory)
    fleet.write_ssh_config(n, ws.ssh_config)
    lines = ["[bench]", *ws.names, "", "[bench:vars]",
             f"ansible_ssh_common_args='-F {ws.ssh_config}'",
             "ansible_python_interpreter=/usr/bin/python3", ""]
    ws.ansible_inventory.write_text("\n".join(lines))
    return ws


# --- plinth ----------------------------------------------------------------------------------

def _plinth_result(proc: ProcResult, report: Path, n: int) -> ToolRun:
    run = ToolRun(proc.wall_s, False, maxrss_kb=proc.maxrss_kb, peak_fds=proc.peak_fds)
    if proc.returncode not in (0, 1):  # 1: the loopback "nodes" fail GPU checks, as they should
        run.detail = f"exit {proc.returncode}: {proc.tail()}"
        return run
    try:
        doc = json.loads(report.read_text())
    except (OSError, ValueError) as exc:
        run.detail = f"no JSON report: {exc}"
        return run
    nodes = doc.get("nodes", [])
    lost = [nd["name"] for nd in nodes if not nd.get("reachable")
            or any(c.get("status") == "error" and "probe" in (c.get("message") or "") for c in nd.get("checks", []))]
    run.node_durations = [float(nd["duration_s"]) for nd in nodes if nd.get("duration_s") is not None]
    if len(nodes) != n or lost:
        run.detail = f"{len(nodes)} nodes in report, lost: {', '.join(lost[:5]) or '-'}"
        return run
    run.ok = True
    return run


def plinth_cli(ws: Workspace, quick: bool = False, sample_fds: bool = False,
               concurrency: int | None = None) -> ToolRun:
    report = ws.dir / "plinth.json"
    report.unlink(missing_ok=True)
    # --quick: no pairwise rounds, no fabric tests, no disk test; otherwise the default disk test only
    mode = ["--quick"] if quick else ["--no-network", "--no-fabric"]
    argv = [str(PLINTH), "validate", "-i", str(ws.inventory), *mode,
            "--json", str(report), "--concurrency", str(concurrency or ws.n)]
    proc = run_measured(argv, env={**os.environ, "CI": "1"}, cwd=REPO, sample_fds=sample_fds, timeout_s=600)
    return _plinth_result(proc, report, ws.n)


# --- ansible ---------------------------------------------------------------------------------

def ansible_available() -> bool:
    return ANSIBLE.exists()


def ensure_ansible(log: Path) -> str | None:
    """Install ansible-core into benchmarks/.venv-ansible (not plinth's venv). None when ready,
    else the reason it could not be installed."""
    if ansible_available():
        return None
    with open(log, "wb") as fh:
        steps = [[sys.executable, "-m", "venv", str(ANSIBLE_VENV)],
                 [str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "ansible-core"]]
        for argv in steps:
            if subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, check=False, timeout=600).returncode != 0:
                return f"`{' '.join(argv[:3])} …` failed (see {log})"
    return None if ansible_available() else "ansible-core install produced no ansible binary"


def ansible_setup(ws: Workspace, rep: int) -> ToolRun:
    control = ws.dir / f"ansible-cp-{rep}"
    control.mkdir(exist_ok=True)
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
           "ANSIBLE_LOCAL_TEMP": str(ws.dir / "ansible-tmp"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_DEPRECATION_WARNINGS": "False", "ANSIBLE_CONFIG": str(ws.dir / "no-ansible.cfg"),
           "ANSIBLE_HOME": str(ws.dir / "ansible-home")}
    argv = [str(ANSIBLE), "all", "-i", str(ws.ansible_inventory), "-m", "setup", "--forks", str(ws.n)]
    proc = run_measured(argv, env=env, cwd=ws.dir, timeout_s=900)
    _close_control_masters(control, ws.ssh_config)
    ok_hosts = len(re.findall(r"^\S+ \| SUCCESS =>", proc.stdout, flags=re.MULTILINE))
    run = ToolRun(proc.wall_s, proc.returncode == 0 and ok_hosts == ws.n, maxrss_kb=proc.maxrss_kb)
    if not run.ok:
        run.detail = f"exit {proc.returncode}, {ok_hosts}/{ws.n} SUCCESS: {proc.tail()}"
    return run


def _close_control_masters(control: Path, ssh_config: Path) -> None:
    """Ansible leaves ControlPersist masters for 60 s; end them (untimed) so they neither help the
    next run nor eat its CPU."""
    for sock in control.iterdir():
        subprocess.run(["ssh", "-F", str(ssh_config), "-S", str(sock), "-O", "exit", "bench"],
                       capture_output=True, check=False, timeout=10)
    shutil.rmtree(control, ignore_errors=True)


# --- pdsh ------------------------------------------------------------------------------------

def pdsh_available() -> bool:
    return shutil.which("pdsh") is not None


def ensure_pdsh() -> str | None:
    """apt-get install pdsh when it is missing (Debian's pdsh, with its ssh rcmd module). None when
    ready, else why not."""
    if pdsh_available():
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "pdsh is missing and cannot be installed here (needs root and apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "pdsh"]):
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=600)
        if proc.returncode != 0:
            return f"`{' '.join(argv)}` failed: {proc.stderr.strip()[-200:]}"
    return None if pdsh_available() else "pdsh still missing after apt-get install"


def pdsh_true(ws: Workspace, fanout: int | None = None) -> ToolRun:
    # -x: no X11; no -l%u, so the config's User applies
    env = {**os.environ, "PDSH_SSH_ARGS": f"-F {ws.ssh_config} -x %h", "PDSH_RCMD_TYPE": "ssh"}
    argv = ["pdsh", "-R", "ssh", "-f", str(fanout or ws.n), "-w", ",".join(ws.names), "true"]
    proc = run_measured(argv, env=env, timeout_s=600)
    ok = proc.returncode == 0 and not proc.stderr.strip()
    return ToolRun(proc.wall_s, ok, "" if ok else f"exit {proc.returncode}: {proc.tail()}", maxrss_kb=proc.maxrss_kb)


# --- testinfra -------------------------------------------------------------------------------

def xdist_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("xdist") is not None


def testinfra_workers(n: int) -> int:
    """xdist workers: as many as there are CPUs (each worker is a whole Python process with pytest
    and paramiko loaded; more than the cores only adds start-up cost). 0: sequential."""
    return min(n, os.cpu_count() or 1) if xdist_available() else 0


def testinfra_checks(ws: Workspace, workers: int) -> ToolRun:
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            "--rootdir", str(ws.dir), "-c", "/dev/null", "--connection=paramiko", f"--ssh-config={ws.ssh_config}",
            f"--hosts={','.join(ws.names)}", str(REPO / "benchmarks" / "testinfra_checks.py")]
    if workers:
        argv += ["-n", str(workers)]
    proc = run_measured(argv, cwd=REPO, timeout_s=900)
    expected = 8 * ws.n
    m = re.search(r"(\d+) passed", proc.stdout)
    passed = int(m.group(1)) if m else 0
    ok = proc.returncode == 0 and passed == expected
    return ToolRun(proc.wall_s, ok, "" if ok else f"exit {proc.returncode}, {passed}/{expected} passed: {proc.tail()}",
                   maxrss_kb=proc.maxrss_kb)


__all__ = [
    "ANSIBLE", "PLINTH", "ToolRun", "Workspace", "ansible_available", "ansible_setup", "ensure_ansible", "ensure_pdsh",
    "make_workspace", "pdsh_available", "pdsh_true", "plinth_cli",
    "testinfra_checks", "testinfra_workers", "xdist_available",
]
