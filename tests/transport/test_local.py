"""LocalTransport: no shell, process-group kill on timeout, same result shape as SSH."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from validators.transport import TRANSPORTS, LocalTransport, SshTransport, TransportError


def test_table_maps_names_to_classes() -> None:
    assert TRANSPORTS == {"ssh": SshTransport, "local": LocalTransport}


def test_argv_is_not_run_through_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    t = LocalTransport()
    res = t.run(["echo", f"; touch {marker}", f"$(touch {marker})"])
    assert res.exit_code == 0
    assert res.stdout == f"; touch {marker} $(touch {marker})\n".encode()
    assert not marker.exists()


def test_stdin_stdout_stderr_and_exit_code() -> None:
    res = LocalTransport().run(["sh", "-c", "cat; echo oops >&2; exit 3"], stdin=b"x" * 200_000)
    assert res.exit_code == 3 and len(res.stdout) == 200_000 and res.stderr == b"oops\n"


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = Path("/tmp") / f"plinth-local-{uuid.uuid4().hex}"
    t0 = time.monotonic()
    # the grandchild (sleep inside a subshell) must die too, not just sh
    res = LocalTransport().run(["sh", "-c", f"(sleep 1; touch {marker}) & wait"], timeout=0.3)
    assert res.timed_out and time.monotonic() - t0 < 2
    time.sleep(1.2)
    assert not marker.exists()


def test_missing_program_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="cannot run '/nonexistent/x'"):
        LocalTransport().run(["/nonexistent/x"])


def test_close_stops_background_commands() -> None:
    t = LocalTransport()
    cmd = t.start(["sleep", "30"])
    t0 = time.monotonic()
    t.close()
    assert cmd.wait(1).exit_code is not None and time.monotonic() - t0 < 2


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_command_streaming_forever_is_stopped_at_the_cap(stream: str) -> None:
    """`yes` never ends: the transport keeps at most its cap, kills the process group there, and
    says so, instead of growing the controller's memory until the timeout (or forever)."""
    from validators.transport.base import OutputTooLarge

    t0 = time.monotonic()
    with pytest.raises(OutputTooLarge, match=rf"output exceeded \d+ MiB on {stream}") as caught:
        LocalTransport().run(["sh", "-c", "yes" if stream == "stdout" else "yes >&2"], timeout=60)
    assert caught.value.stream == stream
    assert time.monotonic() - t0 < 10  # cut at the cap, long before the 60 s timeout
