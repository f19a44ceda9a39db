"""Print the documented values keys of a Helm chart's values.yaml, one dotted path per line.

    python scripts/helm_values_keys.py values.yaml [--free-form extraArgs ...] > keys

A mapping that is empty in values.yaml is free-form (its keys are the user's: nodeSelector, podLabels …)
and is printed as ``path/*``; so is every path named with --free-form (a documented map whose keys are
open, such as the autoscaler's extraArgs, "any flag"). Lists and scalars are leaves. Used to refresh
tests/components/data/helm/ when a pinned chart is bumped (policies/data/eks_platform.yaml).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml


def keys(values: Any, free_form: set[str], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and (not value or path in free_form):
            yield f"{path}/*"
        elif isinstance(value, dict):
            yield from keys(value, free_form, path)
        else:
            yield path


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the documented values keys of a chart's values.yaml.")
    parser.add_argument("values", type=Path)
    parser.add_argument("--free-form", nargs="*", default=[])
    args = parser.parse_args()
    for line in sorted(keys(yaml.safe_load(args.values.read_text()) or {}, set(args.free_form))):
        print(line)


if __name__ == "__main__":
    main()
