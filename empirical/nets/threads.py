"""What a long run sets for itself: the threads it may change while it runs, the matmul precision it records,
denormals flushed to zero while it trains on the CPU, and glibc's malloc kept from returning freed memory to the OS.

A long CPU run (``paper-widths`` at the paper's widths: hours per cell) takes both cores while nothing else needs
them and gives one back when something else does, without stopping: ``--threads-file F`` names a file holding one
integer, read between training steps and before each evaluation (``follow_threads``). The thread count changes
how a matmul sums, so a run whose threads change is not bit-identical to one whose threads do not; the epoch log
records the fewest and most threads each epoch used.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
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


KEEP_DENORMALS_ENV = "CORELOCKER_KEEP_DENORMALS"


def denormals_flushed() -> bool:
    """Whether this thread's CPU flushes float32 denormals to zero (FTZ/DAZ): 1e-39 then reads as 0."""
    return float(torch.tensor([1e-39], dtype=torch.float32).mul(1.0)) == 0.0


def denormal_mode(device: str) -> str:
    """What the rows record: "flushed" or "kept" (a CUDA device keeps them: its fp32 kernels do not flush)."""
    return "flushed" if torch.device(device).type == "cpu" and denormals_flushed() else "kept"


@contextlib.contextmanager
def flushed_denormals(device: str):
    """Flush float32 denormals to zero on the CPU while the block trains (``torch.set_flush_denormal``), then
    restore what was set before.

    Adam's first moment of a unit whose gradient stops (a dead ReLU, a pixel that is almost always 0) decays by
    β₁ = 0.9 a step into the denormal range within about 800 steps; at 7 × 4000 after 15 epochs 61–95 % of every
    layer's exp_avg is denormal, and x86 cores compute on denormals many times slower: the fused Adam step took
    1.35 s against 0.13 s with them flushed (one thread, the real resume point; ``benchmarks/bench_denormals.py``).
    A denormal moment moves its weight by at most lr·1e-38/ε ≈ 1e-33, far below a float32 step of any weight the
    networks hold, so the weights are the same: bit for bit over 10 real steps of that resume point, and over a
    small network's whole training in ``tests/empirical/nets/test_denormals.py``. Set
    ``CORELOCKER_KEEP_DENORMALS=1`` to keep them."""
    if torch.device(device).type != "cpu" or os.environ.get(KEEP_DENORMALS_ENV) == "1":
        yield
        return
    before = denormals_flushed()
    if not torch.set_flush_denormal(True):  # a CPU without SSE3: nothing to do
        yield
        return
    try:
        yield
    finally:
        if not before:
            torch.set_flush_denormal(False)


def denormals_flushed_in(fn):
    """Run ``fn`` inside ``flushed_denormals("cpu")``: a training loop of its own (the attacks' fine-tuning and
    from-scratch baselines) gets what ``train`` gets."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with flushed_denormals("cpu"):
            return fn(*args, **kwargs)

    return wrapper


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
