"""Guards for commands that write models and keys: no aliasing, one writer, pairs committed together.

* ``refuse_aliasing``: no output may name an input or another output — same path, a hard link
  or a symlink to it (checked before any work).
* ``output_lock``: an exclusive lock on each output directory while a command writes there; a
  second ``lock``/``unlock`` into the same directory is refused instead of mixing pairs.
* ``commit_files``: every output is written to a temp file beside its target first; only when all
  are written and flushed are they renamed into place, back to back. A failure before the renames
  leaves nothing; a failure between them removes what was already renamed. Stale temp files of
  the same outputs (from a killed run) are removed on the next run, under the lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

from empirical.errors import UserError


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refuse_aliasing(inputs: dict[str, Path], outputs: dict[str, Path]) -> None:
    """One clear error if an output is an input, another output, or an existing directory."""
    names = list(outputs.items())
    for i, (oname, opath) in enumerate(names):
        if opath.is_dir():
            raise UserError(f"{oname} {opath} is a directory; give a file path")
        for iname, ipath in inputs.items():
            if _same(opath, ipath):
                raise UserError(f"{oname} and {iname} name the same file ({opath}): refusing to overwrite an input")
        for oname2, opath2 in names[i + 1 :]:
            if _same(opath, opath2):
                raise UserError(f"{oname} and {oname2} name the same file ({opath})")


@contextlib.contextmanager
def output_lock(paths):
    """Exclusive, non-blocking locks on the directories of ``paths`` (sorted, so two commands never deadlock)."""
    dirs = sorted({str(Path(p).resolve().parent) for p in paths})
    held = []
    try:
        for d in dirs:
            try:
                Path(d).mkdir(parents=True, exist_ok=True)
                fd = os.open(d, os.O_RDONLY)
            except OSError as exc:
                raise UserError(f"cannot write into {d}: {exc.strerror or exc}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise UserError(
                    f"another corelocker-bounds command is writing into {d}; try again when it ends"
                ) from None
            held.append(fd)
        yield
    finally:
        for fd in held:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _clean_stale(path: Path) -> None:
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


def commit_files(writers: dict[Path, callable], mode: int | None = None, modes: dict | None = None) -> None:
    """Write each ``writers[path](tmp_path)`` to a temp file, then rename all into place together."""
    temps: dict[Path, Path] = {}
    modes = modes or {}
    try:
        for path, write in writers.items():
            _clean_stale(path)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            temps[path] = Path(tmp)
            if modes.get(path, mode) is not None:
                os.chmod(tmp, modes.get(path, mode))
            write(Path(tmp))
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
    except BaseException:
        for tmp in temps.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    done = []
    try:
        for path, tmp in temps.items():
            os.replace(tmp, path)
            done.append(path)
    except BaseException:
        for path in done:  # never leave half a pair
            with contextlib.suppress(OSError):
                path.unlink()
        for path, tmp in temps.items():
            if path not in done:
                with contextlib.suppress(OSError):
                    tmp.unlink()
        raise
