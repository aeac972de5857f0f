"""Book imbalance at 600 contracts: computed per book as it arrives vs. once per read.

    python -m benchmarks.bench_books [--contracts 600] [--seconds 20]

Partial depth pushes every contract's book every 500 ms: 1,200 books a second at 600
contracts, in 50 ms batches. The baseline (the same run) computes both imbalances of every
book on arrival, as the tracker did before; the tracker now keeps the latest book and computes
on the ranking's read (here once a second, what one Imbalance session asks). Prints CPU
seconds per simulated second for both, and their ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pipelines.analytics.book_imbalance import book_band_imbalance, book_imbalance
from pipelines.analytics.imbalance import ImbalanceTracker
from pipelines.binance.contracts import ContractSpec
from pipelines.binance.registry import SymbolRegistry
from pipelines.records.batch import BookTop


def books(contracts: int, seconds: int, rng: np.random.Generator) -> list[list[BookTop]]:
    """20 batches a second; each contract pushes a 10-level book every 500 ms."""
    batches = []
    for step in range(seconds * 20):
        due = [s for s in range(contracts) if s % 10 == step % 10]  # every 10 steps = 500 ms
        batch = []
        for s in due:
            mid = 10_000 + s
            batch.append(
                BookTop(
                    sym=s, event_time=step * 50,
                    bids=tuple(np.column_stack([mid - np.arange(1, 11), rng.integers(1, 100, 10)]).ravel().tolist()),
                    asks=tuple(np.column_stack([mid + np.arange(1, 11), rng.integers(1, 100, 10)]).ravel().tolist()),
                )
            )  # fmt: skip
        batches.append(batch)
    return batches


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contracts", type=int, default=600)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    registry = SymbolRegistry()
    for s in range(args.contracts):
        registry.add(ContractSpec(f"C{s}USDT", "0.1", "0.001"))
    batches = books(args.contracts, args.seconds, np.random.default_rng(1))

    start = time.process_time()
    for batch in batches:  # baseline: both imbalances of every book on arrival
        for book in batch:
            book_imbalance(book, 10), book_band_imbalance(book, 10.0)
    baseline = (time.process_time() - start) / args.seconds

    print(f"per book on arrival: {baseline * 1000:.1f} ms CPU per second of market")
    for reads in (1, 0):  # one Imbalance session; none (the tab hidden everywhere)
        tracker = ImbalanceTracker(registry)
        start = time.process_time()
        for i, batch in enumerate(batches):
            tracker.update_books(batch)
            if reads and i % 20 == 19:
                tracker._settle_books()  # what the ranking's read does
        now = (time.process_time() - start) / args.seconds
        print(
            f"on read, {reads} read/s: {now * 1000:.1f} ms CPU per second of market "
            f"({now / baseline:.2f}× the baseline)"
        )


if __name__ == "__main__":
    main()
