"""Input files that never end, or are not files: for every input plinth reads (inventory, stack
outputs, profile, stack file, policy config, SSH identity file, known_hosts), a FIFO with no writer,
/dev/zero, a directory, a 20 GiB sparse file and a file on a hung FUSE mount are refused with exit 2
and one line naming the file and why -- at once, or (hung mount) within the read deadline -- and
no node is contacted. Before: the FIFO and the hung mount hung plinth forever, /dev/zero grew its
memory until the OOM killer came."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from policies import inputs
from tests.reliability.support import SilentServer
from validators.cli import app

runner = CliRunner()
HUNG_DEADLINE = 1.5  # the read deadline the hung-mount cases run with (the CLI's is 10 s)
TIMES: dict[str, float] = {}  # case -> seconds to refuse; printed for docs/RELIABILITY.md


@pytest.fixture(scope="module")
def node() -> Iterator[SilentServer]:
    """A port that records connections: bad input must be refused before any node is contacted."""
    server = SilentServer()
    yield server
    server.close()


@contextmanager
def _hung(mnt: Path) -> Iterator[Path | None]:
    """A FUSE mount at ``mnt`` whose server never answers (the kernel's INIT request is never read):
    every stat, open or read under it blocks, like a hard NFS mount whose server is gone. None where
    this kernel or container cannot mount FUSE. Closing the device at the end aborts the connection:
    every thread blocked under the mount then gets ENOTCONN."""
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
    except OSError:
        yield None
        return
    result = subprocess.run(["mount", "-t", "fuse", "-o", f"fd={fd},rootmode=40000,user_id=0,group_id=0", "plinth-hung", str(mnt)],
                            pass_fds=(fd,), capture_output=True, text=True, check=False)
    try:
        yield mnt if result.returncode == 0 else None
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)
        os.close(fd)


@pytest.fixture(scope="module")
def hung_mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path | None]:
    for line in Path("/proc/mounts").read_text().splitlines():  # left by an earlier run that was killed
        if line.startswith("plinth-hung "):
            subprocess.run(["umount", "-l", line.split()[1]], capture_output=True, check=False)
    with _hung(tmp_path_factory.mktemp("hung")) as mnt:
        yield mnt


def _make(kind: str, tmp: Path, name: str, hung: Path | None) -> Path:
    path = tmp / name
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")  # a name ending in .yaml, read as the device it points at
    elif kind == "directory":
        path.mkdir()
    elif kind == "huge":
        with open(path, "wb") as fh:
            fh.truncate(20 * 1024**3)  # sparse: 20 GiB that take no disk
    elif kind == "hung-mount":
        if hung is None:
            pytest.skip("FUSE cannot be mounted here: no hung mount to test with")
        path = hung / name
    return path


# (input kind, how plinth is invoked with the file, what the one-line error calls the file)
def _validate_with_inventory(inv: Callable[[Path], str]) -> Callable[[Path, Path, int], list[str]]:
    def args(path: Path, tmp: Path, port: int) -> list[str]:
        (tmp / "inv.yaml").write_text(inv(path).replace("PORT", str(port)))
        return ["validate", "-i", str(tmp / "inv.yaml"), "--no-network"]
    return args


GOOD_NODE = "nodes:\n  - {name: a, host: 127.0.0.1, port: PORT}\n"
INPUTS = {
    "inventory": (lambda p, tmp, port: ["validate", "-i", str(p)], "inventory", "inv.yaml"),
    "stack outputs": (lambda p, tmp, port: ["validate", "--stack-outputs", str(p)], "stack outputs", "out.json"),
    "profile": (_validate_with_inventory(lambda p: GOOD_NODE), "profile", "prof.yaml"),
    "stack file": (lambda p, tmp, port: ["preview", "--stack", str(p)], "stack file", "Pulumi.x.yaml"),
    "policy config": (lambda p, tmp, port: ["preview", "--stack", "cloud-first", "--policy-config", str(p)], "policy config", "policy.yaml"),
    "SSH identity file": (_validate_with_inventory(lambda p: GOOD_NODE.replace("}", f", identity_file: '{p}'}}")),
                          "SSH identity file", "id_ed25519"),
    "known_hosts": (_validate_with_inventory(lambda p: GOOD_NODE.replace("}", f", known_hosts: '{p}'}}")), "known_hosts", "known_hosts"),
}
KINDS = {"fifo": "is a FIFO (named pipe), not a regular file", "dev-zero": "is a character device, not a regular file",
         "directory": "is a directory, not a regular file", "huge": "is 20 GiB; plinth reads at most 16 MiB",
         "hung-mount": f"no answer within {HUNG_DEADLINE:g} s (a hung network or FUSE mount?)"}


def _invoke(args: list[str], timeout: float) -> Result:
    """The CLI in a thread, so that a regression that hangs fails this test instead of the suite
    (the hung mount's teardown then unblocks the thread)."""
    box: list[Result] = []
    worker = threading.Thread(target=lambda: box.append(runner.invoke(app, args, env={"CI": "1", "COLUMNS": "300"})), daemon=True)
    worker.start()
    worker.join(timeout)
    assert box, f"plinth {' '.join(args)}: still running after {timeout:g} s: it hangs"
    return box[0]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("what", list(INPUTS))
def test_an_input_that_is_not_a_bounded_regular_file_is_exit_2_naming_it(
        what: str, kind: str, tmp_path: Path, node: SilentServer, hung_mount: Path | None, monkeypatch: pytest.MonkeyPatch) -> None:
    build, words, name = INPUTS[what]
    path = _make(kind, tmp_path, name, hung_mount)
    args = build(path, tmp_path, node.port)
    if what == "profile":
        args += ["-p", str(path)]
    monkeypatch.setattr(inputs, "READ_TIMEOUT_S", HUNG_DEADLINE)
    accepted = node.accepted
    t0 = time.monotonic()
    result = _invoke(args, timeout=60)
    took = time.monotonic() - t0
    TIMES[f"{what} / {kind}"] = took
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and line.startswith(f"error: {path}: "), line
    reason = KINDS[kind] if kind != "hung-mount" else "cannot read"
    assert words in line and reason in line, line
    assert node.accepted == accepted, "a node was contacted before the bad input was refused"
    # preview loads the Pulumi SDK (~2-3 s on this machine) before it reads the stack
    limit = HUNG_DEADLINE + 8 if kind == "hung-mount" else 8
    assert took < limit, f"{what} {kind}: {took:.1f} s to refuse"


def test_refusing_a_fifo_takes_no_time_and_never_blocks(tmp_path: Path) -> None:
    """The figure for the docs: read_input on a FIFO with no writer (which `open()` alone would
    block on forever), timed directly."""
    fifo = tmp_path / "inventory.yaml"
    os.mkfifo(fifo)
    best = float("inf")
    for _ in range(20):
        t0 = time.perf_counter()
        with pytest.raises(inputs.ConfigError, match="is a FIFO"):
            inputs.read_input(fifo, "inventory")
        best = min(best, time.perf_counter() - t0)
    TIMES["read_input on a FIFO (best of 20)"] = best
    assert best < 0.05, best
    print(f"\ntime to refuse a FIFO: {best * 1000:.2f} ms; per case through the CLI: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(TIMES.items())))


def test_a_fifo_with_an_endless_writer_is_refused_without_reading(tmp_path: Path) -> None:
    """`plinth validate -i <(yes)`: a writer that never stops. The FIFO is refused on sight; not
    one byte is read (the writer is still blocked when plinth has answered)."""
    fifo = tmp_path / "inv.yaml"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"yes > {fifo}"])
    try:
        time.sleep(0.2)
        with pytest.raises(inputs.ConfigError, match="FIFO"):
            inputs.read_input(fifo, "inventory")
    finally:
        writer.kill()
        writer.wait(5)


def test_markup_in_bad_input_is_shown_not_parsed(tmp_path: Path) -> None:
    """A key or a file name that looks like rich markup is quoted in the error as typed; it used
    to raise MarkupError in the error printer, a traceback instead of exit 2."""
    inv = tmp_path / "[red]inv[bold].yaml"
    inv.write_text("nodes:\n  - {name: a, host: h, '[/bold]': 1}\n")
    result = runner.invoke(app, ["validate", "-i", str(inv)], env={"CI": "1", "COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert f"error: {inv}:2:24: nodes[0]: unknown key '[/bold]' (expected one of: expect, host," in result.output


def test_read_input_reads_a_regular_file_and_proc_files_that_lie_about_their_size(tmp_path: Path) -> None:
    f = tmp_path / "ok.yaml"
    f.write_bytes(b"nodes: []\n")
    assert inputs.read_input(f, "inventory") == b"nodes: []\n"
    # /proc files say st_size 0; the bound is enforced on what is read, not on what stat says
    assert inputs.read_input("/proc/self/status", "status").startswith(b"Name:")
    with pytest.raises(inputs.ConfigError, match="larger than 1,024 bytes"):
        inputs.read_input("/proc/self/smaps", "smaps", limit=1024)


def test_a_thread_stuck_on_a_hung_mount_does_not_keep_plinth_alive(tmp_path: Path) -> None:
    """The deadline gives up on the read; the worker thread is a daemon, so the process can exit
    (a real child process must exit 2 promptly, not hang in interpreter shutdown). A mount of its
    own: a second lookup in a directory where one is pending waits on FUSE's inode lock, which no
    signal interrupts -- that wait would be the kernel's, not plinth's."""
    code = ("import sys; from policies import inputs\n"
            "inputs.READ_TIMEOUT_S = 1.0\n"
            "try:\n    inputs.read_input(sys.argv[1], 'inventory')\n"
            "except inputs.ConfigError as e:\n    print(e); sys.exit(2)\n")
    with _hung(tmp_path) as mnt:
        if mnt is None:
            pytest.skip("FUSE cannot be mounted here")
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", code, str(mnt / "inv.yaml")], capture_output=True, text=True,
                              timeout=30, check=False, cwd=Path(__file__).resolve().parents[2])
        took = time.monotonic() - t0
    assert proc.returncode == 2 and "no answer within 1 s" in proc.stdout, proc
    assert took < 10, took
