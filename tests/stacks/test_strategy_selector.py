"""`plinth strategy`: the decision matrix (pure), starter stack files, and the command through
typer's CliRunner against the real app (exit codes, messages, files written)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policies.errors import ConfigError
from stacks import config as stack_config
from stacks.config import STRATEGIES, load_stack_file
from stacks.selector import choose_strategy, starter_stack_yaml, write_stack_file
from validators.cli import app


@pytest.mark.parametrize(
    ("sensitivity", "pattern", "latency", "expected"),
    [
        ("high", "steady", None, "hybrid"),
        ("high", "bursty", None, "hybrid"),
        ("high", "steady", 5, "hybrid"),  # sovereignty beats latency: data may not leave
        ("normal", "steady", 5, "edge-centric"),
        ("normal", "bursty", 19.9, "edge-centric"),  # latency beats burstiness
        ("normal", "steady", 20, "cloud-first"),  # "under 20 ms": 20 itself is not under
        ("normal", "bursty", None, "cloud-first"),
        ("normal", "bursty", 150, "cloud-first"),
        ("normal", "steady", None, "cloud-first"),  # no signal: the default
        ("HIGH", " Steady ", None, "hybrid"),  # case and stray spaces are forgiven
    ],
)
def test_matrix(sensitivity, pattern, latency, expected):
    strategy, reason = choose_strategy(sensitivity, pattern, latency)
    assert strategy == expected
    assert reason and "\n" not in reason


def test_reasons_say_why_and_what_was_traded_away():
    assert "sensitivity is high" in choose_strategy("high", "steady", None)[1]
    assert "edge" in choose_strategy("high", "bursty", 5)[1] and "burst" in choose_strategy("high", "bursty", 5)[1]
    assert "5 ms is under 20 ms" in choose_strategy("normal", "steady", 5)[1]
    assert "bursty" in choose_strategy("normal", "bursty", None)[1]
    assert "no constraint" in choose_strategy("normal", "steady", None)[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("x", "steady", None), "--data-sensitivity: expected high or normal, got 'x'"),
        (("high", "spiky", None), "--workload-pattern: expected bursty or steady, got 'spiky'"),
        (("high", "steady", 0), "--latency-ms: expected a positive number"),
        (("high", "steady", float("nan")), "--latency-ms: expected a positive number"),
    ],
)
def test_bad_values_name_the_option(args, message):
    with pytest.raises(ConfigError) as err:
        choose_strategy(*args)
    assert message in str(err.value)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_starter_stack_loads_and_is_commented(tmp_path: Path, strategy: str):
    text = starter_stack_yaml(strategy, "mine")
    path = tmp_path / "Pulumi.mine.yaml"
    path.write_text(text)
    cfg = load_stack_file(path)
    assert cfg.strategy == strategy
    assert {"owner", "cost-center"} <= set(cfg.tags)
    assert text.startswith("#") and "pulumi stack init mine" in text


def test_write_stack_file_is_atomic_0644_and_refuses_to_clobber(tmp_path: Path):
    path = tmp_path / "Pulumi.s.yaml"
    old_umask = os.umask(0o077)  # a restrictive umask must not leak into a committed config file
    try:
        write_stack_file(path, "config: {}\n", force=False)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        write_stack_file(path, "config: {other: 1}\n", force=False)
    assert path.read_text() == "config: {}\n"
    write_stack_file(path, "config: {other: 1}\n", force=True)
    assert path.read_text() == "config: {other: 1}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Pulumi.s.yaml"]  # no temp files left


# ---- the command, through the real typer app ---------------------------------------------------

runner = CliRunner()


@pytest.fixture
def stacks_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """--write-stack writes into the stacks directory: point it at a temp dir, never the repo."""
    monkeypatch.setattr(stack_config, "STACKS_DIR", tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--data-sensitivity", "high"], "hybrid"),
        (["--latency-ms", "12"], "edge-centric"),
        (["--workload-pattern", "bursty"], "cloud-first"),
        ([], "cloud-first"),
    ],
)
def test_cli_prints_choice_and_reason(argv, expected):
    result = runner.invoke(app, ["strategy", *argv])
    assert result.exit_code == 0, result.output
    assert f"strategy: {expected}" in result.output
    assert "why:" in result.output


def test_cli_write_stack_round_trip_and_refusal(stacks_dir: Path):
    result = runner.invoke(app, ["strategy", "--data-sensitivity", "high", "--write-stack", "onprem"])
    assert result.exit_code == 0, result.output
    path = stacks_dir / "Pulumi.onprem.yaml"
    cfg = load_stack_file(path)
    assert cfg.strategy == "hybrid" and cfg.kubernetes is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    before = path.read_text()

    again = runner.invoke(app, ["strategy", "--latency-ms", "5", "--write-stack", "onprem"])
    assert again.exit_code == 2
    assert "already exists; pass --force" in again.output and "Traceback" not in again.output
    assert path.read_text() == before

    forced = runner.invoke(app, ["strategy", "--latency-ms", "5", "--write-stack", "onprem", "--force"])
    assert forced.exit_code == 0, forced.output
    assert load_stack_file(path).strategy == "edge-centric"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data-sensitivity", "secret"], "--data-sensitivity: expected high or normal, got 'secret'"),
        (["--workload-pattern", "spiky"], "--workload-pattern"),
        (["--latency-ms", "-3"], "--latency-ms"),
        (["--write-stack", "../escape"], "--write-stack"),
    ],
)
def test_cli_bad_values_exit_2_with_one_line(stacks_dir: Path, argv, message):
    result = runner.invoke(app, ["strategy", *argv])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert list(stacks_dir.iterdir()) == []
