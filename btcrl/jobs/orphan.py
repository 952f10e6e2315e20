"""``python -m btcrl.jobs.orphan``: the process an orphaned worker hands the end of its runs
to when it could not end them itself (``btcrl.jobs.processes.hand_over_orphan_runs``)."""

import sys

from btcrl.jobs.processes import finish_orphan_runs

if __name__ == "__main__":
    finish_orphan_runs(sys.stdin.buffer)
