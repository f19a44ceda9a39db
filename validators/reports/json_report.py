"""JSON report: the contract in ARCHITECTURE.md §3, exactly ``Report.model_dump``.

Values are the raw ones (no clean(): a script reading the JSON gets what the node said); control
characters are escaped (``\\u001b``) by the serializer. There is never a NaN or an Infinity to
write: CheckResult refuses them and facts are guarded before judging (validators/facts_guard.py),
which also replaces lone surrogates, the one kind of text UTF-8 cannot carry.
"""

from __future__ import annotations

import json
from typing import TextIO

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from validators.results import Report


def _dump(model: BaseModel) -> str:
    # pydantic-core's serializer: the same document as json.dumps(model_dump(mode="json")), 5x faster,
    # which is seconds at 10,000 nodes (150,000 check results)
    try:
        return model.model_dump_json(indent=2)
    except PydanticSerializationError:  # text no UTF-8 encoder takes got past the guard: json escapes it (\ud800)
        return json.dumps(model.model_dump(mode="json"), indent=2, allow_nan=False)


def render(report: Report) -> str:
    return _dump(report) + "\n"


def write(report: Report, out: TextIO) -> None:
    """:func:`render`'s bytes, written node by node: at 10,000 nodes the whole document is ~150 MB of
    text that need not be in memory at once (the peak of `validate --facts` was this string)."""
    shell = _dump(report.model_copy(update={"nodes": []}))
    # the summary before "nodes" holds numbers only, and any quote inside the profile name is escaped
    before, after = shell.split('"nodes": []', 1)
    out.write(before + '"nodes": [')
    # a JSON string never holds a raw newline, so the replace only indents the node's own lines
    out.writelines(("," if i else "") + "\n    " + _dump(node).replace("\n", "\n    ")
                   for i, node in enumerate(report.nodes))
    out.write(("\n  ]" if report.nodes else "]") + after + "\n")
