"""The allocator settings do what they are for: freed memory leaves the process."""

from __future__ import annotations

import platform

import numpy as np
import pytest

from pipelines.engine import allocator
from pipelines.engine.allocator import MemoryTrimmer, pin_mmap_threshold, release_free_memory

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="malloc tuning applies to glibc only",
)
MiB = 2**20


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) * 1024


@glibc
def test_freed_large_blocks_go_back_to_the_system() -> None:
    assert pin_mmap_threshold()
    # Freeing a big mmap'd block is what makes glibc raise its threshold; pinned, it must not.
    np.ones(8 * MiB // 8)
    before = rss_bytes()
    blocks = [np.ones(MiB // 8) for _ in range(200)]  # 200 blocks of 1 MiB, every page touched
    # A small block allocated after them: from the heap, above them had they come from it too,
    # so the heap could not shrink back past them (unpinned, all 200 MiB stay resident).
    above = np.ones(64 * 1024 // 8)
    held = rss_bytes() - before
    del blocks
    assert held > 150 * MiB
    assert rss_bytes() - before < 20 * MiB
    assert above.sum() == len(above)


@glibc
def test_trim_releases_free_pages_inside_the_heap() -> None:
    pin_mmap_threshold()
    before = rss_bytes()
    # 64 KiB blocks come from the heap; keeping every 16th one pins the heap's top, so only
    # malloc_trim can hand the free pages between them back.
    blocks = [np.ones(64 * 1024 // 8) for _ in range(3200)]  # 200 MiB
    survivors = blocks[::16]
    del blocks
    fragmented = rss_bytes() - before
    release_free_memory()
    trimmed = rss_bytes() - before
    assert fragmented > 150 * MiB
    assert trimmed < fragmented - 100 * MiB
    assert len(survivors) == 200


def test_trimmer_waits_for_its_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(allocator, "release_free_memory", lambda: calls.append(1))
    idle = MemoryTrimmer(interval_s=3600)
    idle.enabled = True
    idle.tick()
    assert calls == []
    eager = MemoryTrimmer(interval_s=0)
    eager.enabled = True
    eager.tick()
    eager.tick()
    assert calls == [1, 1]
