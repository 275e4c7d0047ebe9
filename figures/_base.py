"""Figures without pyplot: ``Figure`` objects render with the Agg canvas whatever the backend, so
importing ``figures`` never changes matplotlib's global state (no ``matplotlib.use``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from matplotlib.figure import Figure

FORMATS = ("png", "pdf", "svg")


def new_figure(figsize, layout="constrained") -> Figure:
    return Figure(figsize=figsize, layout=layout)


def save(fig: Figure, path, dpi: int = 110, tight: bool = False) -> Path:
    """Write ``fig`` to ``path`` atomically (temp file, then rename); the format is the suffix (png, pdf, svg)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"figure format {fmt!r} not supported; choose one of {', '.join(FORMATS)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight" if tight else None)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path
