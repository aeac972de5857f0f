"""Where a long-running `orderflow` process's memory goes: any subcommand, with memory probes.

    python -m benchmarks.trace_memory OUT_DIR ingest --rest-url ... --buffer-minutes 5
    kill -USR2 PID    # start tracemalloc (after the warm-up: tracing from the start slows
                      # ingestion until it falls behind the stream)
    kill -USR1 PID    # OUT_DIR/memN.txt: VmRSS, RssAnon, tracemalloc's total, SQLite's
                      # sqlite3_memory_used(); and OUT_DIR/snapN.tm while tracing
    python -m benchmarks.trace_memory --compare OUT_DIR/snap1.tm OUT_DIR/snap2.tm

Growth of VmRSS that tracemalloc does not see is outside Python: SQLite's page cache (the
SQLite figure tells it apart), glibc's heap, or zero pages of preallocated arrays touched late.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import sys
import time
import tracemalloc
from pathlib import Path


def _sqlite_bytes() -> int:
    """Bytes SQLite holds in this process (page caches included); -1 if not linkable."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
    except OSError:
        return -1
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return int(lib.sqlite3_memory_used())


def _status_kb(*fields: str) -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in fields:
            out[name] = int(value.split()[0])
    return out


def _probe(out: Path, n: int) -> None:
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(out / f"snap{n}.tm")
    kb = _status_kb("VmRSS", "RssAnon", "RssFile")
    traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0
    line = " ".join(f"{k} {v / 1024:.1f} MB" for k, v in kb.items())
    (out / f"mem{n}.txt").write_text(
        f"{time.strftime('%H:%M:%S')} {line} traced {traced / 2**20:.1f} MB "
        f"sqlite {_sqlite_bytes() / 2**20:.1f} MB\n"
    )


def compare(before: str, after: str, top: int = 15) -> None:
    a, b = tracemalloc.Snapshot.load(before), tracemalloc.Snapshot.load(after)
    stats = b.compare_to(a, "lineno")
    print(f"traced growth {sum(s.size_diff for s in stats) / 2**20:+.2f} MB")
    for s in stats[:top]:
        print(f"{s.size_diff / 2**20:+8.2f} MB (now {s.size / 2**20:.2f})  {s.traceback[0]}")


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--compare":
        compare(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) < 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    probes = iter(range(1, 10**6))
    signal.signal(signal.SIGUSR1, lambda *_: _probe(out, next(probes)))
    signal.signal(signal.SIGUSR2, lambda *_: tracemalloc.start(3))
    from pipelines.cli import main as orderflow

    return orderflow(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
