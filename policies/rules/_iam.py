"""Just enough IAM policy evaluation to ask "does this identity policy let it do X on Y".

IAM's own rules, simplified where a policy pack can't know more: an explicit Deny without a
condition wins; otherwise an Allow whose Action (or NotAction) and Resource (or NotResource) match
grants, whatever its Condition (conditions only narrow when a grant applies, e.g. ``kms:ViaService``
for S3). Actions match case-insensitively, resources case-sensitively, ``*`` and ``?`` as wildcards
(IAM user guide, "IAM JSON policy elements: Action / Resource").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from policies.rules._props import as_list, statements


@cache
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", re.IGNORECASE if ignore_case else 0)


def _matches(globs: Iterable[Any], value: str, ignore_case: bool) -> bool:
    return any(isinstance(g, str) and _pattern(g, ignore_case).match(value) for g in globs)


def _applies(st: Mapping[str, Any], action: str, resource: str) -> bool:
    if "Action" in st:
        act = _matches(as_list(st.get("Action")), action, True)
    else:
        act = not _matches(as_list(st.get("NotAction")), action, True)
    if "Resource" in st:
        res = _matches(as_list(st.get("Resource")), resource, False)
    else:
        res = not _matches(as_list(st.get("NotResource")), resource, False)
    return act and res


def allows(documents: Iterable[Mapping[str, Any]], action: str, resource: str) -> bool:
    """Do these identity policies (together) allow ``action`` on ``resource``?"""
    granted = False
    for doc in documents:
        for st in statements(doc):
            if not _applies(st, action, resource):
                continue
            if st.get("Effect") == "Deny" and not st.get("Condition"):
                return False
            if st.get("Effect") == "Allow":
                granted = True
    return granted
