"""Build the probe's payload: the modules of ``validators/probe/gather/`` as ONE Python script.

The node gets one script on stdin (``python3 - '<options json>'``): no file copied, nothing
installed, one round trip. Sources stay a normal package (one module per family, tested and
type-checked where they live); this module bundles them at send time, as Ansible's AnsiballZ
does (``ansible/executor/module_common.py``):

* every ``gather/*.py`` becomes ``plinth_probe.<name>``, in sorted order, JSON-encoded, zlib-
  compressed and base64'd into :data:`BOOT` — the same sources always give the same bytes;
* :func:`check_imports` refuses a module whose top-level imports are not the standard library
  (as of Python 3.8) or relative, before anything is sent (imports inside functions may name an
  optional binding such as ``pynvml``: they only run where the gatherer guards them);
* on the node, the boot stub first drops ``''`` and ``'.'`` from ``sys.path`` (``python3 -``
  puts the login directory first: a stray ``json.py`` there would shadow the stdlib), then
  installs a meta-path finder that loads ``plinth_probe.*`` from the embedded sources.
"""

from __future__ import annotations

import ast
import base64
import json
import sys
import threading
import zlib
from functools import lru_cache
from pathlib import Path

GATHER_DIR = Path(__file__).with_name("gather")
PACKAGE = "plinth_probe"
# stdlib modules added after 3.8: importable on the controller, missing on an older node
NEWER_THAN_38 = frozenset({"graphlib", "tomllib", "zoneinfo", "_zoneinfo"})

BOOT = '''\
# plinth probe, assembled from validators/probe/gather/*.py (see validators/probe/assemble.py)
import sys

sys.path[:] = [p for p in sys.path if p not in ("", ".")]  # first: no module of the login directory
import binascii
import importlib.machinery
import json
import zlib

SOURCES = json.loads(zlib.decompress(binascii.a2b_base64(%(blob)r)).decode("utf-8"))


class _Embedded:
    """Meta-path finder and loader for the embedded modules (the importlib.abc protocols without
    importing importlib.abc, which costs ~25 ms on Python 3.11)."""

    def find_spec(self, name, path=None, target=None):
        if name not in SOURCES:
            return None
        return importlib.machinery.ModuleSpec(name, self, is_package=name == %(package)r)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = compile(SOURCES[module.__name__], "<plinth-probe>/" + module.__name__, "exec")
        exec(code, module.__dict__)


sys.meta_path.insert(0, _Embedded())
from plinth_probe.main import main  # noqa: E402

sys.exit(main(sys.argv))
'''


class AssembleError(ValueError):
    """A gather module the node could not run (third-party or too-new import, syntax)."""


def _module_name(path: Path) -> str:
    return PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module loads: module body, including its if/try blocks (not
    function or class bodies)."""
    found: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.If, ast.Try)):
            todo.extend(node.body + node.orelse + getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                todo.extend(handler.body)
    return found


def check_imports(sources: dict[str, str]) -> None:
    """Raise :class:`AssembleError` unless every module parses as Python 3.8 and imports at top
    level only the standard library or its sibling modules."""
    stdlib = set(sys.stdlib_module_names) - NEWER_THAN_38
    for name, source in sorted(sources.items()):
        where = f"validators/probe/gather/{'__init__' if name == PACKAGE else name.rpartition('.')[2]}.py"
        try:
            tree = ast.parse(source, filename=where, feature_version=(3, 8))
        except SyntaxError as exc:
            raise AssembleError(f"{where}:{exc.lineno}: not Python 3.8 syntax: {exc.msg}") from None
        for node in ast.walk(tree):  # relative imports anywhere (the GPU helpers load inside functions)
            if isinstance(node, ast.ImportFrom) and node.level:
                sibling = (node.module or "").partition(".")[0]
                targets = [sibling] if sibling else [a.name for a in node.names]
                missing = [t for t in targets if f"{PACKAGE}.{t}" not in sources]
                if missing:
                    raise AssembleError(f"{where}:{node.lineno}: relative import of {missing[0]!r}, which is not in the payload")
        for node in _top_level_imports(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                continue
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.partition(".")[0] not in stdlib:
                    raise AssembleError(
                        f"{where}:{node.lineno}: top-level import of {module!r}: the node has only the Python 3.8 "
                        "standard library (import optional bindings inside the function that uses them)")


def sources(directory: Path = GATHER_DIR) -> dict[str, str]:
    """Module name -> source text of every gather module, in sorted order."""
    return {_module_name(p): p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.py"))}


def build(srcs: dict[str, str]) -> bytes:
    """The payload for these sources (checked first)."""
    if f"{PACKAGE}.main" not in srcs:
        raise AssembleError("validators/probe/gather/main.py is missing: the payload has no entry point")
    check_imports(srcs)
    srcs = {PACKAGE: "", **srcs}  # the package itself, in case gather/__init__.py is gone
    blob = zlib.compress(json.dumps(srcs, sort_keys=True, separators=(",", ":")).encode("utf-8"), 9)
    return (BOOT % {"blob": base64.b64encode(blob).decode("ascii"), "package": PACKAGE}).encode("utf-8")


_build_lock = threading.Lock()


@lru_cache(maxsize=1)
def _payload() -> bytes:
    return build(sources())


def payload() -> bytes:
    """What the node runs: the assembled probe, built once per process. Under a lock: the node
    threads ask for it at once, and ``ast.parse`` in several threads at the same moment can fail
    in CPython 3.11 ("SystemError: AST constructor recursion depth mismatch")."""
    with _build_lock:
        return _payload()
