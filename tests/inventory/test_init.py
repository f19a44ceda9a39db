"""`plinth init`: the example inventory it writes is one `plinth validate -i` accepts as written; it
never overwrites a file without --force; the file is complete (atomic) and 0644; `-` prints it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from validators.cli import app
from validators.init_inventory import EXAMPLE
from validators.inventory import load_inventory

runner = CliRunner()
PLINTH = Path(sys.executable).with_name("plinth")


def test_init_writes_an_inventory_that_validate_accepts_as_written(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_text() == EXAMPLE and path.stat().st_mode & 0o777 == 0o644
    inv = load_inventory(path)
    assert [n.name for n in inv.nodes] == ["gpu-0", "gpu-1"] and inv.profile == "distributed_training"
    assert inv.nodes[1].expect.instance_type == "p5.48xlarge" and inv.nodes[0].user == "ubuntu"
    # the real command line: the inventory parses (no exit 2), the example's addresses are not
    # reachable from here, so the nodes are reported unreachable, not rejected
    out = tmp_path / "r.json"
    proc = subprocess.run([str(PLINTH), "validate", "-i", str(path), "--quick", "--timeout", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
                          env={**os.environ, "HOME": str(tmp_path)})  # no ~/.ssh/config of this machine
    assert proc.returncode not in (0, 2), proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert [(n["name"], n["reachable"]) for n in report["nodes"]] == [("gpu-0", False), ("gpu-1", False)]


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("nodes: [{name: mine, host: 10.9.9.9}]\n")
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 2 and "already exists; pass --force to overwrite it" in result.output
    assert path.read_text().startswith("nodes: [{name: mine")
    assert runner.invoke(app, ["init", str(path), "--force"]).exit_code == 0
    assert path.read_text() == EXAMPLE
    assert [p.name for p in tmp_path.iterdir()] == ["inventory.yaml"]  # no temp file left behind


def test_init_dash_prints_the_example() -> None:
    result = runner.invoke(app, ["init", "-"])
    assert result.exit_code == 0 and result.output == EXAMPLE
