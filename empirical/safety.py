"""Guards for commands that write models and keys: no aliasing, no silent overwrite, one writer, pairs
committed together or not at all.

* ``refuse_aliasing``: no output may name an input or another output — same path, a hard link
  or a symlink to it (checked before any work).
* ``refuse_existing``: an existing output is refused unless the user says ``--force`` (a key
  overwritten by mistake can never be recovered, and neither can the model it unlocked).
* ``output_lock``: an exclusive lock on each output directory while a command writes there; a
  second writer into the same directory is refused instead of mixing pairs. Taking it first
  completes any commit an earlier run left unfinished (``recover``).
* ``commit_files``: every output is written to a temp file beside its target and flushed. For
  more than one file a *journal* naming every (temp, target) pair is then written (atomically, in
  every target directory) and only then are the temps renamed into place, with SIGINT/SIGTERM/
  SIGHUP held until the journal is gone. A crash (even ``kill -9``) before the journal leaves the
  old files untouched; after it, the next command that takes the lock (or ``recover``) finishes the
  renames: the outputs are always the old set or the new set, never half of each. ``recover_pending``
  does that before a command checks or reads anything in the directories it touches.

Threat model of the journal: anyone who can write into an output directory can already replace or delete
the files in it, so recovery must not give them more than that. ``recover`` acts only on a journal this
toolkit could have written: its name carries a random token, it belongs to the current user, it is small
plain JSON, every pair renames a temp named with *that token* onto a file beside it, and its copies lie
exactly in the pairs' directories, this one included. Anything else is refused in one line and nothing
is moved or deleted (a journal can no longer rename a file across directories or delete an arbitrary path).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from empirical._io import clean_stale, refuse_input_overwrite, temp_prefix
from empirical.errors import UserError

JOURNAL = ".corelocker-commit."
_JOURNAL_NAME = re.compile(r"\.corelocker-commit\.([0-9a-f]{8})\.json")
_JOURNAL_MAX_BYTES = 1 << 20
FAULT: Callable[[str], None] | None = None  # tests: called at every step of a commit (to inject crashes)


def _step(name: str) -> None:
    if FAULT is not None:
        FAULT(name)


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_path(name: str, path: Path) -> Path:
    """An output must be a file path: not empty, not a directory, not ending in a separator."""
    text = str(path)
    if not text.strip() or text.endswith(os.sep) or Path(text).name in ("", ".", ".."):
        raise UserError(f"{name} {text!r} is not a file path")
    path = Path(text)
    if path.is_dir():
        raise UserError(f"{name} {path} is a directory; give a file path")
    if path.parent.exists() and not path.parent.is_dir():
        raise UserError(f"{name} {path}: {path.parent} is not a directory")
    return path


def refuse_aliasing(inputs: dict[str, Path], outputs: dict[str, Path]) -> None:
    """One clear error if an output is an input, another output, or an existing directory."""
    names = list(outputs.items())
    for i, (oname, opath) in enumerate(names):
        check_output_path(oname, opath)
        for iname, ipath in inputs.items():
            if _same(opath, ipath):
                raise UserError(f"{oname} and {iname} name the same file ({opath}): refusing to overwrite an input")
        for oname2, opath2 in names[i + 1 :]:
            if _same(opath, opath2):
                raise UserError(f"{oname} and {oname2} name the same file ({opath})")
        if Path(opath).is_symlink():  # (after the aliasing checks: a link to an input is named as aliasing)
            # written in place of the link, never through it: a dangling one would create its target's folders
            raise UserError(f"{oname} {opath} is a symbolic link (to {os.readlink(opath)}); give a regular file path")


def refuse_existing(outputs: dict[str, Path], force: bool, hint: str = "pass --force to replace it") -> None:
    """Refuse to overwrite an existing output unless ``force`` (the CLI's ``--force``; a command without that flag
    passes its own ``hint``)."""
    if force:
        return
    for name, path in outputs.items():
        if Path(path).exists():
            raise UserError(f"{name} {path} exists; refusing to overwrite it ({hint})")


@contextlib.contextmanager
def file_lock(path: Path, busy: str | None = None):
    """An exclusive ``flock`` on ``path`` (created if missing) for the block: with ``busy``, a lock someone else
    holds is refused at once with that message (one ``UserError`` line); without, it waits."""
    fh = open(path, "a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | (fcntl.LOCK_NB if busy is not None else 0))
    except BlockingIOError:
        fh.close()
        raise UserError(busy) from None
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


@contextlib.contextmanager
def output_lock(paths, also=None):
    """Exclusive, non-blocking locks on the directories of ``paths`` (sorted, so two commands never deadlock).

    Once held, any commit left unfinished in those directories is completed first (``recover``), if its targets
    are among ``paths`` and ``also`` (the command's other files).
    """
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
        for d in dirs:
            recover(Path(d), allowed=[*paths, *(also or ())])
        yield
    finally:
        for fd in held:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


@contextlib.contextmanager
def deferred_signals():
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends; they are delivered right after, to the
    handlers that were in place. (Python-level handlers, not a thread signal mask: a process-directed
    signal may land on any thread, e.g. an OpenMP worker, and a mask on the main thread would miss it.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    pending: list[int] = []
    old = {s: signal.getsignal(s) for s in sigs}
    for s in sigs:
        signal.signal(s, lambda num, frame: pending.append(num))
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for num in pending:
            signal.raise_signal(num)


def _fsync_dir(d: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _checked_journal(jpath: Path, directory: Path) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """The (temp, target) pairs and journal copies of ``jpath``, if it is a journal we could have written (module
    doc, threat model); else one ``UserError`` line and nothing touched."""

    def bad(why: str) -> UserError:
        return UserError(
            f"{jpath}: not a commit journal of this toolkit ({why}); nothing was moved: inspect it and "
            "remove it by hand"
        )

    m = _JOURNAL_NAME.fullmatch(jpath.name)
    if m is None:
        raise bad("unexpected name")
    token = m.group(1)
    try:
        st = jpath.lstat()
    except OSError as exc:
        raise bad(f"cannot be read: {exc.strerror or exc}") from None
    if not jpath.is_file() or jpath.is_symlink():
        raise bad("not a plain file")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise bad("written by another user")
    if st.st_size > _JOURNAL_MAX_BYTES:
        raise bad("too large")
    try:
        journal = json.loads(jpath.read_text())
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise bad(f"not readable JSON: {type(exc).__name__}") from None
    if not isinstance(journal, dict) or set(journal) != {"pairs", "journals"}:
        raise bad("not a journal object")
    pairs, copies = journal["pairs"], journal["journals"]
    if not isinstance(pairs, list) or not isinstance(copies, list) or not pairs:
        raise bad("pairs and journals must be lists")
    out, dirs = [], set()
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, str) for v in pair)):
            raise bad("a pair is not [temp, target]")
        tmp, target = Path(pair[0]), Path(pair[1])
        if not (tmp.is_absolute() and target.is_absolute()) or tmp.parent != target.parent:
            raise bad(f"{tmp} is not a temp beside its target {target}")
        if tmp.name != f"{temp_prefix(target)}{token}.tmp" or target.name.startswith(JOURNAL):
            raise bad(f"{tmp.name} is not a temp of this journal")
        out.append((tmp, target))
        dirs.add(target.parent)
    if not all(isinstance(c, str) for c in copies) or {Path(c) for c in copies} != {d / jpath.name for d in dirs}:
        raise bad("its copies are not in the directories of its targets")
    if Path(directory).resolve() / jpath.name not in {d / jpath.name for d in dirs}:
        raise bad("none of its targets is in this directory")
    return out, [Path(c) for c in copies]


def recover(directory: Path, allowed=None) -> list[Path]:
    """Finish every commit whose journal lies in ``directory``: rename the temps still waiting, drop the
    journals. Returns the targets completed. (A journal exists only once all its temps were written.) A
    journal we could not have written is refused before anything moves (module doc), and so is one with a target
    outside ``allowed`` (the files the replaying command names: its inputs and outputs), so a command never
    renames onto a file it was not given."""
    done = []
    allowed = None if allowed is None else {Path(p).resolve() for p in allowed}
    for jpath in sorted(Path(directory).glob(f"{JOURNAL}*.json")):
        pairs, copies = _checked_journal(jpath, directory)
        stray = sorted(str(t) for _, t in pairs if allowed is not None and t.resolve() not in allowed)
        if stray:
            raise UserError(
                f"{jpath}: an unfinished commit of another command (it would replace {', '.join(stray)}, "
                "which this command was not given); nothing was moved: rerun the command that wrote "
                "those files, or inspect the journal and remove it by hand"
            )
        with deferred_signals():
            for tmp, target in pairs:
                if tmp.exists():
                    os.replace(tmp, target)
                    done.append(target)
            for d in {t.parent for _, t in pairs}:
                _fsync_dir(d)
            for j in copies:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(j)
    return done


def recover_pending(paths) -> None:
    """Before a command checks or reads anything: finish the commits an interrupted command left in the
    existing directories of ``paths`` (inputs and outputs), each under its directory lock; a directory
    another command is writing into is left to it."""
    paths = [Path(p) for p in paths]
    for d in sorted({p.resolve().parent for p in paths if p.resolve().parent.is_dir()}):
        if not any(d.glob(f"{JOURNAL}*.json")):
            continue
        fd = os.open(d, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            recover(d, allowed=paths)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def commit_files(writers: dict[Path, Callable], mode: int | None = None, modes: dict | None = None) -> None:
    """Write each ``writers[path](tmp_path)`` to a temp file, then put all into place together (module doc)."""
    temps: dict[Path, Path] = {}
    modes = modes or {}
    token = secrets.token_hex(4)  # names the temps and the journal: recovery moves only this journal's temps
    for path in writers:
        refuse_input_overwrite(path)
    try:
        for path, write in writers.items():
            path = Path(path)
            clean_stale(path)  # a temp file untouched for a minute: a killed writer's (a fresh one may be anyone's)
            tmp = path.parent / f"{temp_prefix(path)}{token}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if modes.get(path, mode) else 0o644)
            os.close(fd)
            temps[path] = tmp
            if modes.get(path, mode) is not None:
                os.chmod(tmp, modes.get(path, mode))
            write(tmp)
            if modes.get(path, mode) is not None:  # again: a writer may re-create the file (safetensors does)
                os.chmod(tmp, modes.get(path, mode))
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            _step(f"written {path.name}")
    except BaseException:
        for tmp in temps.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    with deferred_signals():
        if len(temps) == 1:
            ((path, tmp),) = temps.items()
            os.replace(tmp, path)
            _fsync_dir(path.parent)
            return
        dirs = sorted({p.parent.resolve() for p in temps})
        journals = [d / f"{JOURNAL}{token}.json" for d in dirs]
        body = json.dumps(
            {
                "pairs": [[str(t.resolve()), str(p.resolve())] for p, t in temps.items()],
                "journals": [str(j) for j in journals],
            }
        )
        try:
            for j in journals:
                jtmp = j.parent / f"{j.name}.tmp"
                jtmp.write_text(body)
                with open(jtmp, "rb") as fh:
                    os.fsync(fh.fileno())
                os.replace(jtmp, j)
                _fsync_dir(j.parent)
        except BaseException:  # no journal complete: the old outputs stand, the temps go
            for j in journals:
                for f in (j, j.parent / f"{j.name}.tmp"):
                    with contextlib.suppress(OSError):
                        f.unlink()
            for tmp in temps.values():
                with contextlib.suppress(OSError):
                    tmp.unlink()
            raise
        _step("journal written")
        for path, tmp in temps.items():
            os.replace(tmp, path)
            _step(f"renamed {path.name}")
        for d in dirs:
            _fsync_dir(d)
        for j in journals:
            os.unlink(j)
        _step("journal removed")
