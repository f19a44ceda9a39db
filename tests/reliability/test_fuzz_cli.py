"""CLI arguments never crash: typer's CliRunner over ``validators.cli.app`` with
generated option values for every command. Property: no exception escapes (only typer's exit),
bad input is exit 2 with ONE ``error:`` line naming the option or file (or typer's usage box
naming the option), and input our oracle calls valid is never refused with 2.

Nothing here reaches a real host: the one valid inventory points at 127.0.0.1:1 (refused at
once), report paths are plain names in a throwaway directory (no '/', no '..'), and
``plinth strategy --write-stack`` writes into a temporary stacks directory."""

from __future__ import annotations

import atexit
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from policies.thresholds import builtin_profiles
from stacks import config as stack_config
from tests.reliability.inputs import CASES, FUZZ, MIN_CASES, maybe, values, words, yaml_bytes
from tests.reliability.test_fuzz_inputs import stack_mapping
from validators.cli import app

runner = CliRunner()
WORK = Path(tempfile.mkdtemp(prefix="plinth-fuzzcli-"))
atexit.register(shutil.rmtree, WORK, True)  # one throwaway directory per run, removed at exit
STACKS = WORK / "stacks"
STACKS.mkdir()
GOOD_INV = WORK / "good.yaml"
GOOD_INV.write_text("nodes:\n  - {name: a, host: 127.0.0.1, port: 1}\n")  # refused at once: exit 1, fast
BAD_FILES = {
    "bad-yaml.yaml": b"nodes: [\n", "bad-date.yaml": b"nodes: 2001-13-45\n", "binary.yaml": b"\xff\xfe\x00",
    "shell.yaml": b"nodes:\n  - {name: a, host: '$(touch /tmp/plinth-fuzz-pwned)'}\n",
}
for _name, _content in BAD_FILES.items():
    (WORK / _name).write_bytes(_content)
PROFILES = sorted(builtin_profiles())
SPECIAL_NUMBERS = ["nan", "inf", "-inf", "1e309", "0", "-1", "1e-300", "0x10", " 5", "5 ", "", "1_000"]

# a report file name: hostile characters but never a path separator, so it stays in WORK/run
report_name = st.one_of(st.text(alphabet=st.characters(blacklist_characters="/", blacklist_categories=("Cs",)), max_size=12),
                        st.sampled_from(["r.json", ".", "..", "", "sub", " ", "-x", "--json"]))
number_text = st.one_of(st.sampled_from(SPECIAL_NUMBERS), st.integers(-10, 3000).map(str),
                        st.floats(allow_nan=True, allow_infinity=True).map(repr), words)


def _int_ok(text: str, lo: int, hi: int) -> bool:
    try:
        return lo <= int(text, 10) <= hi
    except ValueError:
        return False


def _float_ok(text: str, lo: float) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and value >= lo


def _name_ok(name: str) -> bool:
    return name not in ("", ".", "..", "sub") and "\x00" not in name and not name.startswith("-") and name.strip() == name != ""


@st.composite
def validate_args(draw: Any) -> tuple[list[str], bool]:
    args, ok = ["validate"], True
    inv = draw(st.sampled_from(["good", "missing", "dir", *BAD_FILES]))
    if inv == "good":
        args += ["--inventory", str(GOOD_INV)]
    elif inv == "missing":
        args += ["-i", str(WORK / "nope.yaml")]; ok = False
    elif inv == "dir":
        args += ["-i", str(WORK)]; ok = False
    else:
        args += ["-i", str(WORK / inv)]; ok = False
    if draw(st.booleans()):
        value = draw(number_text)
        args += ["--concurrency", value]; ok &= _int_ok(value, 1, 1024)
    if draw(st.booleans()):
        value = draw(number_text)
        args += ["--timeout", value]; ok &= _float_ok(value, 1)
    if draw(st.booleans()):
        value = draw(st.one_of(st.sampled_from(PROFILES), words))
        args += ["--profile", value]; ok &= value in PROFILES
    to_stdout = 0  # "-" and -o FORMAT send a report to stdout, which holds one
    files: list[str] = []  # and two reports never share one file
    for option in draw(st.lists(st.sampled_from(["--json", "--junit", "--markdown", "--prometheus"]), max_size=2, unique=True)):
        value = draw(st.one_of(report_name, st.just("-")))
        args += [option, value]; ok &= value == "-" or _name_ok(value); to_stdout += value == "-"
        if value != "-":
            files.append(value)
    if draw(st.integers(0, 3)) == 0:
        value = draw(st.sampled_from(["json", "junit", "markdown", "prometheus", "yaml", "JSON", ""]))
        args += ["-o", value]; ok &= value in ("json", "junit", "markdown", "prometheus"); to_stdout += 1
    ok &= to_stdout <= 1 and len(files) == len(set(files))
    quiet, verbose = draw(st.booleans()), draw(st.booleans())
    args += ["-q"] * quiet + ["-v"] * verbose; ok &= not (quiet and verbose)
    if draw(st.integers(0, 9)) == 0:
        args += ["--stack", draw(words)]; ok = False
    if draw(st.integers(0, 9)) == 0:
        args += ["--bogus-option"]; ok = False
    return args + ["--no-network"], ok


@st.composite
def strategy_args(draw: Any) -> tuple[list[str], bool]:
    args, ok = ["strategy"], True
    ds = draw(maybe("high").map(str))
    wp = draw(maybe("bursty").map(str))
    args += ["--data-sensitivity", ds, "--workload-pattern", wp]
    ok &= ds.strip().lower() in ("high", "normal") and wp.strip().lower() in ("bursty", "steady")
    if draw(st.booleans()):
        value = draw(number_text)
        args += ["--latency-ms", value]; ok &= _float_ok(value, 1e-300)
    if draw(st.booleans()):
        value = draw(st.one_of(st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True), words))
        args += ["--write-stack", value, "--force"]
        ok &= bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", value))
    return args, ok


@st.composite
def other_args(draw: Any) -> tuple[list[str], bool]:
    kind = draw(st.sampled_from(["audit", "preview", "preview-config"]))
    if kind == "audit":  # audit with a valid profile would probe this machine: only bad profiles here
        value = draw(words.filter(lambda w: w not in PROFILES))
        return ["audit", "--profile", value, "--json", draw(report_name)], False
    if kind == "preview":
        return ["preview", "--stack", draw(words.filter(lambda w: w not in ("cloud-first", "hybrid", "edge")))], False
    return ["preview", "--stack", "cloud-first", "--policy-config", str(WORK / draw(st.sampled_from(list(BAD_FILES))))], False


def _check_outcome(args: list[str], ok: bool, exit_code: int | None, output: str, exc: BaseException | None) -> None:
    assert exc is None or isinstance(exc, SystemExit), f"{args}: {exc.__class__.__name__}: {exc}"
    assert "Traceback" not in output, f"{args}: traceback:\n{output}"
    if not ok:
        assert exit_code == 2, f"{args}: bad input gave exit {exit_code}:\n{output}"
    else:
        # 3: every node reached passed but some were unreachable (the fuzzer's one node is refused)
        assert exit_code in (0, 1, 3), f"{args}: valid input refused with {exit_code}:\n{output}"
    if exit_code != 2:
        return
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    if errors:  # plinth's own bad-input line: exactly one, naming an option or a file
        assert len(errors) == 1 and len(output.strip().splitlines()) == 1, f"{args}: not one line:\n{output}"
        assert re.search(r"(--[a-z-]+|\.ya?ml|\.json|profile|stack|strategy|inventory|/)", errors[0]), errors[0]
    else:  # typer/click usage error: its box names the option or argument at fault
        assert re.search(r"(Invalid value|No such option|Missing option|requires an argument|Got unexpected)", output), output
        assert "Usage:" in output


def _invoke(args: list[str], ok: bool, kind: str) -> None:
    CASES[kind] += 1
    run_dir = Path(tempfile.mkdtemp(dir=WORK, prefix="run-"))
    (run_dir / "sub").mkdir()
    cwd = os.getcwd()
    os.chdir(run_dir)
    try:
        result = runner.invoke(app, args, env={"CI": "1", "COLUMNS": "200"})
    finally:
        os.chdir(cwd)
    _check_outcome(args, ok, result.exit_code, result.output, result.exception)


@FUZZ
@given(case=st.one_of(validate_args(), validate_args(), strategy_args(), other_args()))
@example(case=(["validate", "-i", str(GOOD_INV), "--timeout", "nan"], False))
@example(case=(["validate", "-i", str(GOOD_INV), "--timeout", "inf"], False))
@example(case=(["validate", "-i", str(GOOD_INV), "--json", "a\x00b"], False))
@example(case=(["strategy", "--latency-ms", "nan"], False))
@example(case=(["validate", "-i", str(GOOD_INV), "-p", "single_gpu", "--junit", "r.xml"], True))
@example(case=(["validate", "-i", str(GOOD_INV), "-p", "single_gpu", "--junit", "-"], True))
@example(case=(["validate", "-i", str(GOOD_INV), "--json", "-", "--junit", "-"], False))
@example(case=(["validate", "-i", str(GOOD_INV), "--json", "r", "--markdown", "r"], False))
@example(case=(["validate", "-i", str(GOOD_INV), "--json", str(GOOD_INV)], False))
@example(case=(["validate", "-i", str(GOOD_INV), "--prometheus", "/dev/sda"], False))
def test_cli_arguments_never_crash(case: tuple[list[str], bool], monkeypatch_stacks: None) -> None:
    args, ok = case
    _invoke(args, ok, "CLI arguments")


@pytest.fixture
def monkeypatch_stacks(monkeypatch: pytest.MonkeyPatch) -> None:
    # `plinth strategy --write-stack` writes stacks/Pulumi.<name>.yaml: here, a throwaway directory
    monkeypatch.setattr(stack_config, "STACKS_DIR", STACKS)


# -- `plinth preview --stack <file>`: slow when the file is valid (~3 s), so ~10 cases ----------

@settings(FUZZ, max_examples=10)
@given(content=yaml_bytes(st.one_of(stack_mapping.map(lambda m: {"config": m}), values)))
@example(content=b"config:\n  plinth:strategy: cloud-first\n  plinth:tags: {owner: a, cost-center: b}\n"
                 b"  plinth:gpuPools: [{name: x, instanceType: p4d.24xlarge, maxSize: 2}]\n")
def test_preview_of_generated_stack_files_never_crashes(content: bytes) -> None:
    CASES["preview --stack (CLI)"] += 1
    path = WORK / "Pulumi.fuzzed.yaml"
    path.write_bytes(content)
    result = runner.invoke(app, ["preview", "--stack", str(path)], env={"CI": "1", "COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code == 2:
        line = result.output.strip()
        assert "\n" not in line and re.match(rf"^error: {re.escape(str(path))}(:\d+:\d+)?: ", line), line


def test_cli_fuzzer_ran_at_least_200_cases() -> None:
    if CASES["CLI arguments"] == 0:
        pytest.skip("the CLI fuzzer was not selected in this run")
    print(f"\ngenerated cases per input kind: {dict(CASES)}")
    assert CASES["CLI arguments"] >= MIN_CASES, dict(CASES)
    assert CASES["preview --stack (CLI)"] >= 10 or CASES["preview --stack (CLI)"] == 0

