"""The report flags every command shares (validators/cli_options.py): `-` is stdout, `-o FORMAT` is
`--FORMAT -`, one report at most on stdout, --quiet and --verbose exclusive, each command offering
only the formats it writes; contradictions are bad input (exit 2, one line) before anything runs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from policies.errors import ConfigError
from validators.cli import app
from validators.cli_options import outputs

runner = CliRunner()


@pytest.mark.parametrize(("args", "message"), [
    (["audit", "-q", "-v"], "error: --quiet and --verbose: choose one"),
    (["audit", "-o", "json", "--json", "-"], "error: --json - and -o json: stdout holds one report; write the others to files"),
    (["validate", "-i", "inv.yaml", "--markdown", "-", "--prometheus", "-"],
     "error: --markdown - and --prometheus -: stdout holds one report; write the others to files"),
])
def test_contradictions_are_one_line_exit_2_before_anything_runs(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert (result.stdout, result.stderr) == ("", message + "\n")


def test_each_command_offers_the_formats_it_writes() -> None:
    result = runner.invoke(app, ["preview", "-s", "cloud-first", "-o", "junit"])
    assert result.exit_code == 2 and "'junit' is not one of 'json'" in " ".join(result.stderr.replace("│", " ").split())
    for command in ("audit", "validate", "preview"):
        help_text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
        for flag in ("--json", "--output", "--quiet", "--verbose"):
            assert flag in help_text, (command, flag)
        assert "Exit codes" in help_text and "Examples" in help_text
    assert "3  some nodes could not be checked" in runner.invoke(app, ["validate", "--help"], env={"COLUMNS": "200"}).stdout


def test_every_command_has_an_example_in_its_help() -> None:
    commands = ["audit", "validate", "preview", "agent", "strategy", "profiles", "init"]
    group = get_command(app)
    assert isinstance(group, TyperGroup) and set(commands) == set(group.commands)  # a new command needs one too
    for command in commands:
        help_text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
        assert f"$ plinth {command}" in help_text, command


def test_outputs_split_files_from_stdout(tmp_path: Path) -> None:
    out = outputs(output="json", json=str(tmp_path / "r.json"), junit="~/r.xml", markdown=None)
    assert out.stdout == "json"
    assert out.files == {"json": tmp_path / "r.json", "junit": Path.home() / "r.xml"}  # ~ expanded like a shell
    assert outputs(markdown="-").stdout == "markdown"
    with pytest.raises(ConfigError, match="-o junit: this command writes json"):
        outputs(("json",), output="junit")


def test_a_report_to_stdout_and_files_in_one_audit(tmp_path: Path) -> None:
    """`--junit -` and `--json FILE`: stdout is the JUnit document alone (it parses as XML), the file
    is the JSON report, the console view went to stderr."""
    result = runner.invoke(app, ["audit", "--quick", "--junit", "-", "--json", str(tmp_path / "r.json")])
    assert result.exit_code in (0, 1), result.stderr
    root = ET.fromstring(result.stdout)
    report = json.loads((tmp_path / "r.json").read_text())
    assert root.tag == "testsuites" and int(root.get("tests", "0")) == sum(len(n["checks"]) for n in report["nodes"]) + len(report["fleet"])
    assert "readiness score" in result.stderr
