"""What a long run sets for itself: the threads it may change while it runs, the matmul precision it records, and
glibc's malloc kept from returning freed memory to the OS.

A long CPU run (``paper-widths`` at the paper's widths: hours per cell) takes both cores while nothing else needs
them and gives one back when something else does, without stopping: ``--threads-file F`` names a file holding one
integer, read between training steps and before each evaluation (``follow_threads``). The thread count changes
how a matmul sums, so a run whose threads change is not bit-identical to one whose threads do not; the epoch log
records the fewest and most threads each epoch used.
"""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)


def read_threads(path) -> int | None:
    """The thread count written in ``path`` (one integer >= 1), or None when the file is absent or holds
    anything else (a half-written file is ignored until it reads well)."""
    try:
        n = int(Path(path).read_text().strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return n if n >= 1 else None


def follow_threads(path) -> int:
    """Set torch's (and the BLAS pools') threads to what ``path`` says, if it says something else; returns the
    threads in use. ``path`` None: leave them."""
    current = torch.get_num_threads()
    n = read_threads(path) if path is not None else None
    if n is not None and n != current:
        torch.set_num_threads(n)
        threadpool_limits(limits=n)
        log.info("threads %d -> %d (%s)", current, n, path)
        return n
    return current


def tf32_enabled(device: str) -> bool:
    """Whether float32 matmuls on ``device`` may round through TF32 (CUDA only; the paper's protocol is fp32,
    so runs switch it off and record it)."""
    if torch.device(device).type != "cuda":
        return False
    return bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32)


def strict_fp32(device: str) -> None:
    """No TF32 on CUDA: float32 matmuls and convolutions in full float32 (a no-op elsewhere)."""
    if torch.device(device).type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False


_HEAP_KEPT = False


def reuse_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the OS (once per process).

    By default every tensor above 32 MiB is its own mmap: freed at once, the next step maps it again
    and the kernel zeroes every page on first touch. At batch 128 that page-fault work costs more
    than the matmuls: a 13 × 8000 FCN's training step takes 14.2 s with the default and 4.1 s with
    mmap disabled and trimming off (``benchmarks/bench_paper_training.py``). The price: the process
    keeps its peak heap until it exits. No-op where glibc's ``mallopt`` is absent; set
    ``CORELOCKER_DEFAULT_MALLOC=1`` to leave the allocator alone. Returns whether it took effect.
    """
    global _HEAP_KEPT
    if _HEAP_KEPT or os.environ.get("CORELOCKER_DEFAULT_MALLOC"):
        return _HEAP_KEPT
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        _HEAP_KEPT = bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 1 << 40))
    except (OSError, AttributeError):
        _HEAP_KEPT = False
    return _HEAP_KEPT
