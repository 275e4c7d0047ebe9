"""Atomic file writes: a temp file in the target directory, then ``os.replace``.

Temp files are named ``.NAME.XXXXXXXX.tmp`` beside the target (a hash of the name when that would
exceed 255 bytes); one left by a killed writer is removed by the next write of the same file once
it has not been touched for a minute.

Inputs are never written over: inside ``guard_inputs()`` (every CLI command runs in one) each file the command
reads is noted by its identity (device and inode, so a hard link or a symbolic link to it counts too), and a
write that would replace a noted file is refused with one line, whatever ``--force`` says.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import time
from pathlib import Path

from empirical.errors import UserError

STALE_SECONDS = 60.0  # a temp file untouched this long belongs to a dead writer
_INPUTS: dict[tuple[int, int], str] | None = None  # (st_dev, st_ino) → how the running command names that input


@contextlib.contextmanager
def guard_inputs():
    """While the block runs, every file passed to ``note_input`` is protected from ``atomic_path``,
    ``write_*`` and ``safety.commit_files``."""
    global _INPUTS
    outer, _INPUTS = _INPUTS, {}
    try:
        yield
    finally:
        _INPUTS = outer


def note_input(path, name: str = "an input") -> None:
    """Record ``path`` as a file the running command reads (no-op outside ``guard_inputs`` or for anything that
    is not an existing regular file)."""
    if _INPUTS is None:
        return
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return
    if stat.S_ISREG(st.st_mode):
        _INPUTS.setdefault((st.st_dev, st.st_ino), f"{name} ({path})")


def refuse_input_overwrite(path) -> None:
    """One error line if writing ``path`` would replace a file the running command reads."""
    if not _INPUTS:
        return
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return
    hit = _INPUTS.get((st.st_dev, st.st_ino))
    if hit is not None:
        raise UserError(f"{path} is {hit}, which this command reads: refusing to write over an input")


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
    refuse_input_overwrite(path)
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
