"""What ``dcgmi diag`` prints, read back: the JSON of DCGM 3.x and 4.x and the text table.

See validators/fabric/dcgm.py for the dict both parsers return. JSON (``-j``) comes in two shapes:
DCGM 3.x puts the tests under "DCGM GPU Diagnostic" with ``gpu_ids`` per result and upper-case
statuses; DCGM 4.x under "DCGM Diagnostic" with ``entity_group``/``entity_id`` per result, a
``test_summary`` and "metadata" (NVIDIA/DCGM dcgmi/Diag.cpp HelperJsonBuildOutput,
testing/python3/dcgm_diag_schema.json). The text table is 78 columns wide; messages are cut into
45-character slices over several rows, joined back exactly here (dcgmi/Diag.cpp DisplayVerboseInfo).
3.x prints ``Fail - All`` / ``Pass - GPUs: 0, 1``, 4.x one ``GPU0: Pass`` row per entity. A status
DCGM might add later is never read as a pass: unknown words become "not run".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from validators.fabric.toolout import bounded_text, first_line, snippet

_STATUSES = {"pass": "pass", "fail": "fail", "warn": "warn", "warning": "warn", "skip": "skip", "skipped": "skip",
             "not run": "not run", "notrun": "not run"}
# a test's status over its GPUs: any failure fails it; a GPU that did not run makes it incomplete
_PRECEDENCE = ("fail", "warn", "not run", "pass", "skip")
_STRESS = {"targeted stress", "targeted power", "memory bandwidth", "diagnostic", "sm stress", "eud test"}
_LEVEL4 = {"pulse test", "memtest"}
_MAX_MESSAGE = 600


def _status(word: Any) -> str:
    text = str(word or "").strip().casefold()
    text = text.split(" - ", 1)[0].strip()
    return _STATUSES.get(text, "not run")


def _worst(statuses: Iterable[str]) -> str:
    present = set(statuses)
    for status in _PRECEDENCE:
        if status in present:
            return status
    return "not run"


def _messages(value: Any) -> list[str]:
    """DCGM's warnings/info: a string, a list of strings, or a list of {"warning": ...} objects."""
    items = value if isinstance(value, list) else [value] if value else []
    out = []
    for item in items:
        if isinstance(item, Mapping):
            item = item.get("warning") or item.get("message") or item.get("msg")
        if isinstance(item, str) and item.strip():
            out.append(snippet(item, _MAX_MESSAGE))
    return out


def _result(ok: bool, error: str | None, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"ok": ok, "error": error, "level": None, "dcgm_version": None, "driver_version": None,
                            "gpus": [], "tests": []}
    base.update(kw)
    return base


def _infer_level(tests: Sequence[Mapping[str, Any]]) -> int | None:
    names = {t["name"].casefold() for t in tests}
    categories = {t["category"].casefold() for t in tests}
    if not tests:
        return None
    if names & _LEVEL4:
        return 4
    if names & _STRESS or "stress" in categories:
        return 3
    if categories & {"integration", "hardware"}:
        return 2
    return 1


# --- JSON ------------------------------------------------------------------------------------

def _json_doc(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON document in dcgmi's output: the first object that parses, starting at a line that
    opens one (a banner before it is skipped)."""
    starts = [m.end() - 1 for m in re.finditer(r"(?m)^\s*\{", text)][:5] or [text.find("{")]
    if starts[0] < 0:
        return None, f"dcgmi printed no JSON: {first_line(text)}"
    error = "dcgmi printed no JSON object"
    for start in starts:
        try:
            doc, _ = json.JSONDecoder().raw_decode(text[start:])
        except (json.JSONDecodeError, RecursionError) as exc:
            error = f"dcgmi printed truncated or invalid JSON ({getattr(exc, 'msg', 'too deep')})"
            continue
        if not isinstance(doc, dict):
            return None, "dcgmi JSON is not an object"
        iterations = doc.get("iterations")
        if isinstance(iterations, list) and iterations and isinstance(iterations[-1], dict):
            doc = iterations[-1]  # -c N: one document per iteration; they stop at the first failure
        return doc, None
    return None, error


def _entity_key(result: Mapping[str, Any]) -> list[str]:
    """The GPU ids (as strings) one result belongs to: 3.x ``gpu_ids`` ("0,1,2" or 0), 4.x
    ``entity_group``/``entity_id`` (non-GPU entities keep their group: "CPU:0")."""
    if "entity_id" in result:
        group = str(result.get("entity_group") or "GPU")
        ident = str(result.get("entity_id"))
        return [ident] if group.upper() == "GPU" else [f"{group}:{ident}"]
    ids = result.get("gpu_ids", result.get("gpu_id"))
    if isinstance(ids, int) and not isinstance(ids, bool):
        return [str(ids)]
    if isinstance(ids, str):
        return [part.strip() for part in ids.split(",") if part.strip().isdigit()]
    return []


_TIMED_OUT = "dcgmi diag did not finish in its time bound (a test hung, or the bound is too short for this level)"


def parse_diag_json(text: str | bytes | None, *, level: int | None = None, exit_code: int | None = None) -> dict[str, Any]:
    """Parse ``dcgmi diag -j`` output of DCGM 3.x or 4.x (see the module docstring). Never raises.
    ``exit_code`` 124/137 (killed by ``timeout``) turns "no result" into "did not finish in time"."""
    body, _ = bounded_text(text)
    doc, error = _json_doc(body) if body.strip() else (None, "no output from dcgmi")
    if doc is None:
        return _result(False, _TIMED_OUT if exit_code in (124, 137) else error, level=level)
    root = doc.get("DCGM Diagnostic", doc.get("DCGM GPU Diagnostic"))
    if not isinstance(root, Mapping):
        return _result(False, "dcgmi JSON has no \"DCGM Diagnostic\" section", level=level)
    metadata = doc.get("metadata")
    if not isinstance(metadata, Mapping):
        metadata = {}
    version = metadata.get("version") or root.get("version")
    driver = metadata.get("Driver Version Detected") or root.get("Driver Version Detected")
    runtime_error = root.get("runtime_error")
    tests: list[dict[str, Any]] = []
    for category in root.get("test_categories") or []:
        if not isinstance(category, Mapping):
            continue
        for test in category.get("tests") or []:  # DCGM 3.1 leaves nulls between tests
            if isinstance(test, Mapping) and test.get("name"):
                tests.append(_json_test(str(category.get("category") or ""), test))
    gpu_ids = _json_gpus(doc, tests)
    out = _result(True, None, level=level or _infer_level(tests), dcgm_version=str(version) if version else None,
                  driver_version=str(driver) if driver else None, gpus=gpu_ids, tests=tests)
    if runtime_error:
        out.update(ok=False, error=f"dcgmi: {snippet(str(runtime_error))}")
    elif not tests:
        out.update(ok=False, error="dcgmi reported no test results")
    return out


def _json_test(category: str, test: Mapping[str, Any]) -> dict[str, Any]:
    gpus: dict[str, dict[str, Any]] = {}
    loose_warnings: list[str] = []
    for result in test.get("results") or []:
        if not isinstance(result, Mapping):
            continue
        status = _status(result.get("status"))
        warnings, info = _messages(result.get("warnings")), _messages(result.get("info"))
        keys = _entity_key(result)
        if not keys:
            loose_warnings += warnings
        for key in keys:
            entry = gpus.setdefault(key, {"status": status, "info": [], "warnings": []})
            entry["status"] = _worst([entry["status"], status])
            entry["warnings"] += warnings
            entry["info"] += info
    # 4.x: test_summary carries the test's own status and the messages not tied to one GPU
    summary = test.get("test_summary") if isinstance(test.get("test_summary"), Mapping) else None
    if summary is not None:
        status = _status(summary.get("status"))
        tied = {w for g in gpus.values() for w in g["warnings"]}
        warnings = loose_warnings + [w for w in _messages(summary.get("warnings")) if w not in tied]
        info = _messages(summary.get("info"))
    else:
        status = _worst(g["status"] for g in gpus.values()) if gpus else "not run"
        warnings, info = loose_warnings, []
    return {"name": snippet(str(test["name"]), 80), "category": snippet(category, 40), "status": status,
            "gpus": gpus, "info": info, "warnings": warnings}


def _json_gpus(doc: Mapping[str, Any], tests: Sequence[Mapping[str, Any]]) -> list[int]:
    ids: set[int] = set()
    for group in doc.get("entity_groups") or []:
        if isinstance(group, Mapping) and str(group.get("entity_group", "")).upper() == "GPU":
            for entity in group.get("entities") or []:
                if isinstance(entity, Mapping) and isinstance(entity.get("entity_id"), int):
                    ids.add(entity["entity_id"])
    if not ids:
        ids = {int(k) for t in tests for k in t["gpus"] if k.isdigit()}
    return sorted(ids)


# --- text ------------------------------------------------------------------------------------

_CATEGORY = re.compile(r"^[|+]-+\s+([A-Za-z][\w ]*?)\s+-*\+")
_GPU_LIST = re.compile(r"^(Pass|Fail|Warn|Skip|Not Run)\s+-\s+(?:GPUs?:\s*([\d,\s]+)|(All))\s*$", re.IGNORECASE)
_ENTITY = re.compile(r"^(GPU|CPU|Switch|Link|Cpu_core)\s*(\d+):\s*(Pass|Fail|Warn|Skip|Not Run)\s*$", re.IGNORECASE)
_MESSAGE_NAME = re.compile(r"^(Warning|Info)(?::\s*(GPU|CPU|Switch)\s*(\d+))?$")
_GPU_IN_MESSAGE = re.compile(r"^\s*GPU (\d+)\b")
_TEXT_ERRORS = re.compile(r"(Error: .*|Unable to .*|.*(?:dcgmi|nv-hostengine): (?:command )?not found.*"
                          r"|.*Host engine connection invalid.*)")
_METADATA = {"dcgm version": "dcgm_version", "driver version detected": "driver_version"}


class _Table:
    """One printed result box."""

    def __init__(self) -> None:
        self.meta: dict[str, str] = {}
        self.ngpus = 0
        self.tests: list[dict[str, Any]] = []
        self.category = ""
        self.message: tuple[list[str], int] | None = None  # (message list, index) being continued


def _cells(line: str, sep: int) -> tuple[str, str] | None:
    """(name, value slice) of a ``| name | value |`` row; the value is the exact 45-character slice
    DCGM cut the message into (no stripping: slices end and start mid-word or on a blank)."""
    if not (line.startswith("|") and line.rstrip().endswith("|")) or len(line) <= sep + 2 or line[sep] != "|":
        return None
    end = len(line.rstrip()) - 1
    return line[1:sep].strip(), line[sep + 2:max(sep + 2, end - 2)]


def parse_diag_text(text: str | bytes | None, *, level: int | None = None, exit_code: int | None = None) -> dict[str, Any]:
    """Parse the ``dcgmi diag -r N`` table (DCGM 3.x ``Pass - All`` style and 4.x per-entity rows; a
    box printed twice, as srun with two tasks does, counts once). Never raises."""
    body, _ = bounded_text(text)
    if not body.strip():
        return _result(False, _TIMED_OUT if exit_code in (124, 137) else "no output from dcgmi", level=level)
    tables: list[_Table] = []
    sep = 28
    current: _Table | None = None
    for line in body.replace("\r", "").split("\n"):
        if line.startswith("+") and set(line.strip()) <= {"+", "-", "="} and line.count("+") >= 3:
            sep = line.index("+", 1)
            continue
        if m := _CATEGORY.match(line):
            if current is not None:
                current.category = m.group(1).strip()
                current.message = None
            continue
        cells = _cells(line, sep)
        if cells is None:
            continue
        name, value = cells
        if name == "Diagnostic" and value.strip() == "Result":
            current = _Table()
            tables.append(current)
            continue
        if current is not None:
            _text_row(current, name, value)
    for table in tables:
        _finish(table)
    distinct: list[_Table] = []
    for table in tables:
        if not any(t.tests == table.tests and t.meta == table.meta for t in distinct):
            distinct.append(table)
    if not distinct or not any(t.tests for t in distinct):
        m = _TEXT_ERRORS.search(body)
        reason = snippet(m.group(0)) if m else (
            _TIMED_OUT if exit_code in (124, 137) else f"no dcgmi diag result table in the output (first line: {first_line(body)})")
        return _result(False, reason, level=level)
    tests = [t for table in distinct for t in table.tests]
    meta = distinct[0].meta
    gpus = sorted({int(k) for t in tests for k in t["gpus"] if k.isdigit()} | set(range(distinct[0].ngpus)))
    return _result(True, None, level=level or _infer_level(tests), dcgm_version=meta.get("dcgm_version"),
                   driver_version=meta.get("driver_version"), gpus=gpus, tests=tests)


def _text_row(table: _Table, name: str, value: str) -> None:
    stripped = value.strip()
    key = name.casefold()
    if key in _METADATA:
        table.meta[_METADATA[key]] = stripped
        return
    if key.endswith("device ids detected"):
        if key.startswith("gpu"):
            table.ngpus = len([part for part in stripped.split(",") if part.strip()])
        return
    if key.startswith("number of") or key.endswith(("test version", "package version")):
        return
    test = table.tests[-1] if table.tests else None
    if m := _MESSAGE_NAME.match(name):
        if test is None:
            return
        entity = m.group(3) if m.group(2) and m.group(2).upper() == "GPU" else None
        bucket = "warnings" if m.group(1) == "Warning" else "info"
        if entity is not None:
            target = test["gpus"].setdefault(entity, {"status": "not run", "info": [], "warnings": []})[bucket]
        else:
            target = test[bucket]
        target.append("")
        table.message = (target, len(target) - 1)
        _continue(table, value)
        return
    if name:
        table.message = None
        status = _status(stripped)
        new = {"name": snippet(name, 80), "category": table.category, "status": status, "gpus": {}, "info": [], "warnings": [],
               "_all": None}
        table.tests.append(new)
        _gpu_status(new, stripped)
        return
    # a row without a name: a message slice, or (4.x) a per-entity status line, or (3.x) more GPUs
    if test is None:
        return
    if table.message is None or _ENTITY.match(stripped) or _GPU_LIST.match(stripped):
        table.message = None
        _gpu_status(test, stripped)
    else:
        _continue(table, value)


def _continue(table: _Table, value: str) -> None:
    assert table.message is not None
    target, index = table.message
    target[index] = (target[index] + value)[: _MAX_MESSAGE * 4]


def _gpu_status(test: dict[str, Any], value: str) -> None:
    if m := _ENTITY.match(value):
        group, ident, status = m.group(1).upper(), m.group(2), _status(m.group(3))
        key = ident if group == "GPU" else f"{group}:{ident}"
        test["gpus"].setdefault(key, {"status": status, "info": [], "warnings": []})["status"] = status
    elif m := _GPU_LIST.match(value):
        status = _status(m.group(1))
        if m.group(3):
            test["_all"] = status
        else:
            for ident in re.findall(r"\d+", m.group(2) or ""):
                test["gpus"].setdefault(ident, {"status": status, "info": [], "warnings": []})["status"] = status


def _finish(table: _Table) -> None:
    """Spread "- All" over the GPUs, give each GPU the messages that name it, settle statuses."""
    all_ids = [str(i) for i in range(table.ngpus)]
    for test in table.tests:
        everyone = test.pop("_all")
        if everyone is not None:
            for ident in all_ids:
                test["gpus"].setdefault(ident, {"status": everyone, "info": [], "warnings": []})["status"] = everyone
        for bucket in ("warnings", "info"):
            loose = []
            for message in _split(test[bucket]):
                m = _GPU_IN_MESSAGE.match(message)
                if m and m.group(1) in test["gpus"]:
                    test["gpus"][m.group(1)][bucket].append(message)
                else:
                    loose.append(message)
            test[bucket] = loose
        for entry in test["gpus"].values():
            entry["warnings"] = _split(entry["warnings"])
            entry["info"] = _split(entry["info"])
        if test["gpus"]:  # 3.x "Pass - GPUs: 0, 1" then "Fail - GPU: 2": the worst GPU decides
            own = [] if test["status"] == "not run" else [test["status"]]
            test["status"] = _worst([*own, *(g["status"] for g in test["gpus"].values())])


def _split(messages: Sequence[str]) -> list[str]:
    """Messages joined back from slices; DCGM 3.x joins several in one cell with ".," between them."""
    out = []
    for message in messages:
        for part in re.split(r"(?<=\.),(?=\S)", message):
            if part.strip():
                out.append(snippet(part, _MAX_MESSAGE))
    return out
