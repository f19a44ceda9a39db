"""Required tags (default owner, cost-center, strategy) on every taggable AWS resource.

"Taggable" means the resource's pulumi-aws type has a ``tags`` input (read from the SDK's
``<Type>Args`` class, so the list follows the provider version instead of a hand-kept table).
Tags set on the explicit AWS provider as ``defaultTags`` count, as AWS applies them too.
"""

from __future__ import annotations

import importlib
import warnings
from functools import cache
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policies.rules._base import config_of, resource_policy
from policies.rules._props import UNKNOWN, get, plain, require_known

# Python module names pulumi-aws renames because the token's module is a keyword.
_MODULE_RENAMES = {"lambda": "lambda_"}


@cache
def is_taggable(resource_type: str) -> bool:
    """``aws:s3/bucket:Bucket`` -> does ``pulumi_aws.s3.BucketArgs`` have ``tags``? (imports lazily)"""
    try:
        package, module_path, cls = resource_type.split(":")
    except ValueError:
        return False
    if package != "aws":
        return False
    module = module_path.split("/")[0]
    module = _MODULE_RENAMES.get(module, module)
    try:
        with warnings.catch_warnings():  # importing a module warns about its deprecated resource classes
            warnings.simplefilter("ignore", DeprecationWarning)
            mod = importlib.import_module("pulumi_aws" if module == "index" else f"pulumi_aws.{module}")
            args_cls = getattr(mod, f"{cls}Args", None)  # pulumi-aws loads submodules lazily, on access
    except ImportError:
        return False
    return args_cls is not None and isinstance(getattr(args_cls, "tags", None), property)


def missing_tags(tags: Any, default_tags: Any, required: list[str]) -> list[str]:
    present: dict[str, Any] = {}
    for source in (default_tags, tags):
        if isinstance(source, dict):
            present.update(source)
    return [key for key in required if not (isinstance(present.get(key), str) and present[key].strip())]


def _check_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    props = plain(args.props)
    if "tags" not in props and not is_taggable(args.resource_type):
        return
    tags = get(props, "tags", default={})
    require_known(tags, "tags")
    default_tags = get(plain(args.provider.props), "defaultTags", "tags") if args.provider is not None else None
    if default_tags is UNKNOWN:
        default_tags = None
    required = config_of(args).required_tags
    missing = [k for k in missing_tags(tags, default_tags, required) if get(tags, k) is not UNKNOWN]
    if missing:
        report(f"{args.name}: missing required tags {', '.join(missing)} (required: {', '.join(required)})", None)


POLICIES = [
    resource_policy("required-tags", "Taggable AWS resources must carry the required tags (owner, cost-center, strategy).",
                    _check_tags, "advisory", config=("requiredTags",)),
]
