"""The probe is assembled from validators/probe/gather/ into one script: stable bytes, only what a
bare Python 3.8 node has, and no module of the login directory can shadow the standard library."""

from __future__ import annotations

import ast
import importlib
import random
import subprocess
from pathlib import Path

import pytest

from tests.probe.helpers import PY38, SYSTEM_PY, probe_env, quiet_options
from validators.probe import assemble, node_script, parse_probe_output, probe_command
from validators.probe.assemble import AssembleError, build, check_imports, sources
from validators.probe.gather import main as gather_main
from validators.transport.base import CommandResult


def test_same_sources_give_the_same_bytes_in_any_order() -> None:
    srcs = sources()
    shuffled = list(srcs.items())
    random.Random(7).shuffle(shuffled)
    assert build(dict(shuffled)) == build(srcs) == node_script()
    assert node_script() is node_script()  # built once per process


def test_payload_carries_every_gather_module() -> None:
    names = {p.stem for p in assemble.GATHER_DIR.glob("*.py")}
    assert {n.rpartition(".")[2] for n in sources() if n != assemble.PACKAGE} == names - {"__init__"}
    assert {"main", "_util", "gpu", "system"} <= names


def test_every_family_module_is_in_families_with_its_contract() -> None:
    """Adding a family is one module with SECTION, DEFAULT, gather(opts), listed in FAMILIES."""
    families = {m.__name__.rpartition(".")[2]: m for m in gather_main.FAMILIES}
    on_disk = {p.stem for p in assemble.GATHER_DIR.glob("*.py") if not p.stem.startswith("_") and p.stem != "main"}
    assert set(families) == on_disk
    for name, module in families.items():
        assert module.SECTION == name and callable(module.gather), name
        assert module.DEFAULT in (None, []), name
    assert len({m.SECTION for m in gather_main.FAMILIES}) == len(gather_main.FAMILIES)


@pytest.mark.parametrize("source,why", [
    ("import yaml\n", "top-level import of 'yaml'"),
    ("from requests import get\n", "top-level import of 'requests'"),
    ("try:\n    import numpy\nexcept ImportError:\n    numpy = None\n", "top-level import of 'numpy'"),
    ("import zoneinfo\n", "top-level import of 'zoneinfo'"),  # stdlib, but only from 3.9
    ("from .nowhere import x\n", "relative import of 'nowhere'"),
    ("def f():\n    from ._gone import y\n    return y\n", "relative import of '_gone'"),  # nested ones too
    ("def f(x):\n    match x:\n        case 1:\n            return 1\n", "not Python 3.8 syntax"),
])
def test_a_module_the_node_cannot_run_is_refused_before_sending(source: str, why: str) -> None:
    srcs = {**sources(), "plinth_probe.extra": source}
    with pytest.raises(AssembleError, match=why) as info:
        build(srcs)
    assert "validators/probe/gather/extra.py:" in str(info.value)


def test_optional_bindings_may_be_imported_inside_functions() -> None:
    check_imports({**sources(), "plinth_probe.extra": "def f():\n    import pynvml\n    return pynvml\n"})


def test_no_module_imports_the_controller_package() -> None:
    for name, text in sources().items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and not node.level:
                assert not (node.module or "").startswith(("validators", "plinth_probe")), name
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith(("validators", "plinth_probe")) for a in node.names), name


def test_controller_imports_the_same_modules_the_node_runs() -> None:
    gpu = importlib.import_module("validators.probe.gather.gpu")
    assert gpu.SECTION == "gpu" and Path(gpu.__file__).parent == assemble.GATHER_DIR


# -- a json.py in the login directory must not shadow the stdlib ---------------------------------

DECOY = "import os\nopen(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'decoy-ran'), 'w').close()\nraise SystemExit(3)\n"


@pytest.mark.parametrize("python", [SYSTEM_PY, PY38], ids=["system-python3", "python3.8"])
def test_decoy_json_in_the_login_directory_is_not_imported(tmp_path: Path, python: Path) -> None:
    if not python.exists():
        pytest.skip(f"{python} not installed")
    home = tmp_path / "home"
    home.mkdir()
    for name in ("json.py", "signal.py", "zlib.py"):  # zlib: the boot stub's own first imports
        (home / name).write_text(DECOY)
    env = probe_env(tmp_path / "bin", python=python)
    env["HOME"] = str(home)
    # the control: a plain `python3 -` from that directory does run the decoy (so the test can fail)
    plain = subprocess.run(["python3", "-"], input=b"import json\n", cwd=home, env=env, capture_output=True, check=False)
    assert plain.returncode == 3 and (home / "decoy-ran").exists()
    (home / "decoy-ran").unlink()

    argv, stdin = probe_command(quiet_options(tmp_path, disk_test_mb=0))
    proc = subprocess.run(argv, input=stdin, cwd=home, env=env, capture_output=True, check=False, timeout=60)
    facts = parse_probe_output(CommandResult(proc.returncode, proc.stdout, proc.stderr, 0.0))
    assert not (home / "decoy-ran").exists(), proc.stderr
    assert facts["errors"] == {} and facts["system"]["python"].startswith("3.8." if python == PY38 else "3.")
