"""Child process for the crash test: writes deterministic batches through the writer forever.

    python -m tests.storage.crash_writer DB_PATH

It resumes where the store's checkpoint says (as the engine does after a restart) and never
stops by itself; the test kills it with SIGKILL.
"""

from __future__ import annotations

import sys
import time

from pipelines.storage.store import Store
from pipelines.storage.writer import StoreWriter
from tests.storage.synth import T0, batch, registry

PER_SYMBOL = 50


def main(path: str) -> None:
    reg = registry()
    writer = StoreWriter(path, reg, commit_interval_s=0.005, clock=lambda: T0).start()
    with Store(path) as store:
        last = store.last_agg_ids().get(reg.symbol(0), 0)
    k = last // PER_SYMBOL
    while True:
        # Paced so that nothing passes the writer's bound (owed ranges would need a REST backfill).
        while writer.status().waiting_rows > 10_000:
            time.sleep(0.001)
        writer.submit(batch(k, per_symbol=PER_SYMBOL))
        k += 1
        time.sleep(0.001)


if __name__ == "__main__":
    main(sys.argv[1])
