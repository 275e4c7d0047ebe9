"""Atomic file writes: a temp file in the target directory, then ``os.replace``.

Temp files are named ``.NAME.XXXXXXXX.tmp`` beside the target (a hash of the name when that would
exceed 255 bytes); one left by a killed writer is removed by the next write of the same file once
it has not been touched for a minute.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from pathlib import Path

STALE_SECONDS = 60.0  # a temp file untouched this long belongs to a dead writer


def temp_prefix(path) -> str:
    """Prefix of ``path``'s temp files: ``.NAME.`` — or a hash of the name when that would exceed 255 bytes."""
    name = Path(path).name
    if len(f".{name}.12345678.tmp".encode()) <= 255:
        return f".{name}."
    return f".{hashlib.sha256(name.encode()).hexdigest()[:24]}."


def clean_stale(path, older_than: float = STALE_SECONDS) -> None:
    """Remove temp files of ``path`` left by a killed writer (untouched for ``older_than`` seconds)."""
    path = Path(path)
    now = time.time()
    with contextlib.suppress(OSError):
        for stale in path.parent.glob(f"{temp_prefix(path)}*.tmp"):
            with contextlib.suppress(OSError):
                if now - stale.stat().st_mtime >= older_than:
                    stale.unlink()


@contextlib.contextmanager
def atomic_path(path, mode: int | None = None):
    """Yield a temp path beside ``path``; on success rename it onto ``path``, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path, text: str, mode: int | None = None) -> None:
    with atomic_path(path, mode) as tmp:
        tmp.write_text(text)


def write_csv(path, frame) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
