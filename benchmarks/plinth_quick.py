"""`plinth validate --no-network` with the quick probe: the same code path as the CLI
(validators.commands.run_validate: inventory → run_fleet → console + JSON report), except that
the probe's active disk test is cut to 1 MiB with the builtin writer (no fio).

Why this exists: the issue compares "plinth validate with the quick checks (no active bandwidth
test)" against fact gathering (Ansible) and a bare exec (pdsh); plinth's CLI always runs a 64 MiB
fio write+read per node (~1 s alone, several seconds when 64 run at once on 2 cores), which is an
active throughput test, not fact gathering. The harness uses the CLI's own quick option when
`plinth validate --help` offers one (see fanout.quick_cli_flag) and this module otherwise.

    python -m benchmarks.plinth_quick INVENTORY JSON_OUT CONCURRENCY
"""

from __future__ import annotations

import sys
from pathlib import Path

from policies.thresholds import get_profile
from validators.commands import VALIDATE_DEFAULT_PROFILE
from validators.inventory import load_inventory
from validators.probe import ProbeOptions
from validators.reports import console, write_reports
from validators.runner import RunOptions, run_fleet

QUICK_PROBE = ProbeOptions(disk_test_mb=1, use_fio=False)


def main(argv: list[str]) -> int:
    inventory, json_out, concurrency = Path(argv[1]), Path(argv[2]), int(argv[3])
    inv = load_inventory(inventory)
    profile = get_profile(inv.profile or VALIDATE_DEFAULT_PROFILE)
    opts = RunOptions(concurrency=concurrency, network=False, progress=False, probe_options=QUICK_PROBE,
                      object_store=inv.object_store)
    report = run_fleet(inv.nodes, profile, opts)
    console.render(report)
    problems = write_reports(report, {"json": json_out})
    return 1 if problems else report.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
