"""`snakemake ARGS...` for the Slurm test, with the Slurm executor's status polls capped.

Usage: python snakemake_quick_poll.py [snakemake arguments]

snakemake-executor-plugin-slurm waits `slurm-init-seconds-before-status-checks`
after a round of status queries in which a job finished, and 10 s longer after
each round in which none did (up to 180 s): sparing a big cluster's slurmctld,
but on the one-node test cluster most of the run would be spent waiting for
the next poll (every short job costs a 1 + 11 s cycle). Here the wait between
rounds is capped at SLURM_TEST_MAX_POLL_S seconds (default 2). Nothing else
changes: the same Snakemake, profile, plugin, sbatch submissions and squeue
status queries; the jobs inside Slurm run the plugin's own job step command.
If the plugin no longer has the hook patched here, this warns and runs
Snakemake unpatched (slower, not different).
"""

from __future__ import annotations

import asyncio
import os
import sys

MAX_POLL_S = float(os.environ.get("SLURM_TEST_MAX_POLL_S", "2"))


def _cap_status_poll_interval() -> None:
    try:
        from snakemake_executor_plugin_slurm import Executor
    except ImportError as error:  # the run itself will then say what is missing
        print(f"[snakemake_quick_poll] not patched: {error}", file=sys.stderr)
        return
    if not isinstance(getattr(Executor, "next_seconds_between_status_checks", None), property):
        print("[snakemake_quick_poll] not patched: the Slurm executor has no "
              "next_seconds_between_status_checks", file=sys.stderr)
        return

    async def sleep(self) -> None:
        await asyncio.sleep(min(self.next_seconds_between_status_checks, MAX_POLL_S))

    Executor.sleep = sleep
    print(f"[snakemake_quick_poll] Slurm status queries at most {MAX_POLL_S:g} s apart", file=sys.stderr)


if __name__ == "__main__":
    _cap_status_poll_interval()
    from snakemake.cli import main

    sys.argv[0] = "snakemake"
    sys.exit(main())
