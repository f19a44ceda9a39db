"""iperf3 parser on real recorded outputs (../shared/fixtures/real/iperf3, see SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from validators.network.iperf3 import (
    Iperf3Error,
    client_argv,
    is_connect_refused,
    parse_client_json,
    server_argv,
)

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "real" / "iperf3"


def _fixture(name: str) -> str:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"real fixture {path} not present (it lives beside the project in ../shared)")
    return path.read_text()


def test_time_mode_run_reports_receiver_bits_per_second() -> None:
    gbps = parse_client_json(_fixture("iperf3-J_client_tcp-P1-t10-O3_iperf3.9_gcp-europe-west2-to-ibm-lon02.json"))
    assert gbps == pytest.approx(1774172234.02676 / 1e9)  # sum_received, not sum_sent (1774185624)


def test_bytes_mode_uses_what_the_receiver_got_not_what_the_sender_pushed() -> None:
    gbps = parse_client_json(_fixture("iperf3-J_client_tcp-P1-n-bytes-mode_iperf3.9_aws-eu-west-2-via-proxy.json"))
    # sum_received 29.89 Mbit/s; sum_sent says 30.32 (bytes still in flight when the sender stopped)
    assert gbps == pytest.approx(0.0298884, rel=1e-4)


def test_text_output_is_an_error_with_the_first_line() -> None:
    with pytest.raises(Iperf3Error, match="did not print JSON.*Connecting to host"):
        parse_client_json(_fixture("iperf3_client_tcp_TEXT-not-json_iperf3.9_aws-to-gcp.txt"))


def test_truncated_json_and_iperf_error_are_reasons() -> None:
    text = _fixture("iperf3-J_client_tcp-P1-t10-O3_iperf3.9_gcp-europe-west2-to-ibm-lon02.json")
    with pytest.raises(Iperf3Error, match="truncated or invalid JSON"):
        parse_client_json(text[: len(text) // 2])
    with pytest.raises(Iperf3Error, match="unable to connect"):
        parse_client_json('{"start": {}, "intervals": [], "end": {}, "error": "unable to connect to server: Connection refused"}')
    with pytest.raises(Iperf3Error, match="no end.sum_received"):
        parse_client_json('{"start": {}, "end": {}}')
    assert is_connect_refused(b'"error": "unable to connect to server - server may have stopped running"')


def test_argv_bounded_by_timeout_and_whole_seconds() -> None:
    assert server_argv(5202, 30) == ["timeout", "30", "iperf3", "-s", "-1", "-p", "5202"]
    argv = client_argv("10.0.0.2", 5202, 0.5, 12.2)
    assert argv[:2] == ["timeout", "13"] and argv[argv.index("-t") + 1] == "1" and argv[-1] == "-J"
    assert "-P" not in argv
    assert client_argv("10.0.0.2", 5202, 3, 30, streams=4)[-3:] == ["-P", "4", "-J"]
