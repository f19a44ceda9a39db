"""What a fleet judge reads of a node's facts, and the facts cut down to exactly that.

A fleet judge declares its reads (``@check(..., scope="fleet", reads=(...))``) as paths:

- ``"disk"``: the whole top-level section;
- ``"gpu.driver_version"``: one key inside it (dots go down through mappings);
- ``"gpu.devices[].vbios_version"``: ``[]`` goes into every item of a list, keeping the list's
  length (``"gpu.devices[]"`` alone keeps only the length: each mapping item becomes ``{}``).

At 10,000 nodes the fleet judges' input is what crosses from the worker processes to the controller
(validators/facts/workers.py) and what stays in memory until the fleet is judged: whole GPU sections
(8 devices, every counter) were 5 KB a node and a fifth of the run; the paths the fleet judges read
of them are ~0.3 KB.

The cut never changes what a judge sees along its paths: a value of an unexpected type (a string
where a mapping was expected, a list item that is not a mapping) is kept as it came, so a judge's own
type checks decide, as they do on the whole facts. tests/checks/test_fleet_reads.py runs every fleet
judge on whole and cut facts and compares.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

_WHOLE = object()  # a path ends here: keep the value as it is


def parse(paths: Iterable[str]) -> dict[str, Any]:
    """The paths as a tree: {"gpu": {"driver_version": WHOLE, "devices[]": {"name": WHOLE}}, "disk": WHOLE}.
    A path that ends where another goes deeper wins (the whole value covers the part); ``x[]`` and
    ``x[].y`` together keep every item with its ``y``."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        parts = path.split(".")
        if not all(parts) or any(p.endswith("[]") and len(p) == 2 for p in parts):
            raise ValueError(f"reads: {path!r} is not a facts path (section.key, key[] for a list's items)")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if node.get(part) is _WHOLE:
                break
            if last and not part.endswith("[]"):
                node[part] = _WHOLE
            else:  # "x[]" at the end keeps the items' count: a tree with nothing in it (yet)
                node = node.setdefault(part, {})
    return tree


def _cut(value: Any, tree: dict[str, Any]) -> Any:
    if not isinstance(value, Mapping):
        return value  # not what the paths expect: the judge's own checks see it unchanged
    out: dict[str, Any] = {}
    for key, sub in tree.items():
        listed = key.endswith("[]")
        name = key[:-2] if listed else key
        if name not in value:
            continue
        got = value[name]
        if sub is _WHOLE and not listed:
            out[name] = got
        elif listed:
            out[name] = [_cut(item, sub) for item in got] if isinstance(got, list) else got
        else:
            out[name] = _cut(got, sub)
    return out


def cut(facts: Mapping[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    """``facts`` reduced to the paths of :func:`parse`'s ``tree`` (values shared, not copied)."""
    return _cut(facts, tree)


__all__ = ["cut", "parse"]
