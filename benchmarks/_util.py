"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import time

import numpy as np
import torch

from empirical.host import cpu_model


def best_time(fn, repeat=3):
    """Best wall time of ``repeat`` runs (seconds) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def machine_line() -> str:
    return f"{cpu_model()}, {torch.get_num_threads()} torch threads, numpy {np.__version__}, torch {torch.__version__}"


def markdown_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)
