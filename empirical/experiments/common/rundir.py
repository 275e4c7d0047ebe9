"""One resumable run directory, shared by every experiment (grid, Table 1, paper widths, ablation, attacks, …).

A run directory holds ``config.json`` (everything that determines the results), one folder per
cell under ``cells/`` with the cell's own tables and a ``done.json`` written last, and the top-level
tables: each the concatenation of the finished cells' tables (``collect``), rebuilt atomically, so
they never hold a partial or duplicated row. A run resumes from ``config.json`` and the finished
cells' tables alone (checkpoints are a local cache), i.e. from committed results on a fresh machine.

Order of work (each step before the next, so a refused run changes nothing):
1. the configuration is validated by its dataclass (before this module sees it);
2. ``open`` refuses a directory of another kind (``empirical.kinds.claim_dir``), takes the run's
   lock (a second writer is refused, or waits with ``wait=True``), and only then writes
   ``config.json`` — or compares it with the one there (another configuration is refused, naming
   the fields; a ``config.json`` that is not a JSON object of this kind is refused);
3. a cell counts as finished only when its ``done.json`` exists *and* every table it must have is
   there and readable; otherwise its ``done.json`` is removed and the cell runs again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from empirical._io import write_csv, write_text
from empirical.errors import UserError
from empirical.experiments.common.validate import validate
from empirical.host import cpu_model
from empirical.kinds import article, claim_dir, dir_kind
from empirical.safety import file_lock

log = logging.getLogger(__name__)


def read_table(path: Path, required: bool = True) -> pd.DataFrame:
    """A CSV table, or one clear error naming the file (empty, truncated, not CSV)."""
    try:
        with open(path, "rb") as f:  # every table we write ends on a newline: anything else was cut mid-row
            if f.seek(0, 2) and (f.seek(-1, 2), f.read(1))[1] != b"\n":
                raise UserError(f"{path} ends in a cut row (an interrupted copy?); restore it or rerun the cell")
        return pd.read_csv(path)
    except FileNotFoundError:
        if required:
            raise UserError(f"{path} is missing") from None
        return pd.DataFrame()
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not a readable table ({str(exc).splitlines()[0]})") from None


def read_config(path: Path) -> dict:
    """``config.json`` as a dict; one clear error for anything else (not JSON, ``[]``, ``null``)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path} is not readable JSON ({why}); choose another --out") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a run configuration (a JSON {type(data).__name__}); choose another --out")
    return data


def differing_fields(old: dict, new: dict, ignore: Iterable[str], defaults: dict | None = None) -> list[str]:
    """Fields whose values differ; a field missing from a run written before it existed counts as its default."""
    skip, defaults = set(ignore), defaults or {}
    return sorted(
        k for k in set(old) | set(new) if k not in skip and old.get(k, defaults.get(k)) != new.get(k, defaults.get(k))
    )


@dataclass(frozen=True)
class Options:
    """How an experiment runs, never what it computes (that is its ``Config``): the device, the progress bar,
    and ``only`` — the cells to run now (by name; None: all). Experiments with more run-time switches subclass
    it."""

    device: str = "cpu"
    progress: bool = True
    only: tuple[str, ...] | None = None


def check_only(only: Iterable[str] | None, names: Iterable[str]) -> None:
    """One error line when ``only`` (the cells to run now) names a cell that is not one of ``names`` — checked
    before the run directory is touched."""
    names = list(names)
    bad = [n for n in only or () if n not in names]
    if bad:
        raise UserError(f"cell(s) {', '.join(bad)} are not in this configuration ({', '.join(names)})")


TABLE_HASHES = "tables_sha256"  # done.json: the sha256 of each table the cell wrote


def _table_damage(path: Path, expected: str | None, hashes: dict | None) -> str | None:
    """Why ``path`` is not the table its cell finished with (None: it is)."""
    try:
        data = path.read_bytes()
    except OSError:
        return "is missing or unreadable"
    if hashes is not None:
        ok = expected is not None and hashlib.sha256(data).hexdigest() == expected
        return None if ok else "is not the table the cell wrote (its sha256 differs from done.json's)"
    if not data.endswith(b"\n"):
        return "ends in a cut row"
    try:
        pd.read_csv(path, nrows=1)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return "is not a readable table"
    return None


class RunDir:
    """A run directory of one ``kind`` whose cells write ``tables`` (module doc).

    ``merge(old, new) -> config``: how an existing configuration may be extended (e.g. Table 1 adds
    architectures); by default every field but ``ignore`` must match.
    """

    def __init__(
        self,
        path,
        kind: str,
        config: dict,
        tables: tuple[str, ...],
        *,
        ignore: Iterable[str] = ("preset",),
        merge: Callable[[dict, dict], dict] | None = None,
        defaults: dict | None = None,
    ):
        self.path, self.kind, self.config, self.tables = Path(path), kind, dict(config), tuple(tables)
        self.ignore, self.merge, self.defaults = tuple(ignore), merge, dict(defaults or {})
        self._lock = None

    # -- opening -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def open(self, wait: bool = False):
        """Claim, lock and configure the directory (module doc, step 2) for the duration of the block."""
        claim_dir(self.path, self.kind)
        self.path.mkdir(parents=True, exist_ok=True)
        busy = f"another {self.kind} run is writing into {self.path} (locked); wait for it or choose another --out"
        with file_lock(self.path / ".lock", None if wait else busy):
            self._configure()
            yield self

    def _configure(self) -> None:
        path = self.path / "config.json"
        if not path.exists():
            write_text(path, json.dumps(self.config, indent=1) + "\n")
            return
        old = read_config(path)
        found = dir_kind(self.path)
        if found != self.kind:
            raise UserError(
                f"{path} describes {article(found)} {found} run, not {article(self.kind)} {self.kind} one; "
                "choose another --out"
            )
        if self.merge is not None:
            merged = self.merge(old, self.config)
            if merged != old:
                write_text(path, json.dumps(merged, indent=1) + "\n")
            self.config = merged
            return
        diff = differing_fields(old, self.config, self.ignore, self.defaults)
        if diff:
            raise UserError(
                f"{self.path} holds a {self.kind} run with another configuration (differs in: {', '.join(diff)}); "
                "choose another --out"
            )

    @contextlib.contextmanager
    def cell_lock(self, name: str):
        """An exclusive lock on one cell, for experiments whose cells may run in separate processes."""
        cdir = self.cell_dir(name)
        cdir.mkdir(parents=True, exist_ok=True)
        with file_lock(cdir / ".lock", f"another process is running cell {name} of {self.path}; wait for it"):
            yield cdir

    # -- cells -------------------------------------------------------------------------------
    def cell_dir(self, name: str) -> Path:
        return self.path / "cells" / name

    def is_finished(self, name: str, required: Iterable[str] | None = None) -> bool:
        """The cell's ``done.json`` exists and its tables are the ones it recorded: each table's sha256 (cells
        written before the hashes were recorded: readable, and ending on a complete row). A cell whose table is
        missing, replaced, cut or reduced to its header gets its ``done.json`` removed and runs again — never
        counted as finished, and its rows never reach the run's tables."""
        cdir = self.cell_dir(name)
        try:
            done = json.loads((cdir / "done.json").read_text())
        except FileNotFoundError:
            return False
        except (OSError, ValueError, UnicodeDecodeError, RecursionError):
            done = None  # a damaged marker: the cell is not finished
        hashes = done.get(TABLE_HASHES) if isinstance(done, dict) else None
        for table in self.tables if required is None else required:
            p = cdir / f"{table}.csv"
            why = "done.json is damaged" if done is None else _table_damage(p, (hashes or {}).get(table), hashes)
            if why:
                log.warning("cell %s: %s %s; running the cell again", name, p.name, why)
                (cdir / "done.json").unlink(missing_ok=True)
                return False
        return True

    def finished_cells(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if self.is_finished(n)]

    def finish(self, name: str, tables: dict[str, pd.DataFrame], info: dict) -> None:
        """Write a cell's tables (each atomically), then its ``done.json`` — last: the cell is finished."""
        cdir = self.cell_dir(name)
        missing = [t for t in self.tables if t not in tables]
        if missing:
            raise ValueError(f"cell {name} did not produce tables {missing}")
        hashes = {}
        for table, df in tables.items():
            write_csv(cdir / f"{table}.csv", df)
            hashes[table] = hashlib.sha256((cdir / f"{table}.csv").read_bytes()).hexdigest()
        done = {"host": cpu_model(), **info, TABLE_HASHES: hashes}  # host: a retrain reproduces only on its kind
        write_text(cdir / "done.json", json.dumps(done, indent=1, default=str) + "\n")

    def run_cells(
        self,
        names: list[str],
        run_one: Callable[[str], None],
        only: Iterable[str] | None = None,
        collect: Callable[[], dict[str, pd.DataFrame]] | None = None,
    ) -> dict[str, pd.DataFrame]:
        """Run every cell of ``names`` that is not finished (``only``: those of them; a name that is not a cell is
        one error line), in order; the run's tables are rebuilt after each (``collect``, default
        ``self.collect(names)``), so an interrupted run reports what it finished. Call inside ``open()``."""
        collect = collect or (lambda: self.collect(names))
        check_only(only, names)
        for name in names:
            if (only is not None and name not in only) or self.is_finished(name):
                continue
            log.info("%s cell %s: running", self.kind, name)
            run_one(name)
            collect()
        return collect()

    def collect(self, order: Iterable[str], write: bool = True, partial: bool = False) -> dict[str, pd.DataFrame]:
        """Concatenate the finished cells' tables in ``order`` — with ``partial``, also the rows unfinished
        cells have written so far (per-epoch experiments report the epochs a cell reached); write the
        top-level tables atomically."""
        names = [n for n in order if partial or self.is_finished(n)]
        out = {}
        for table in self.tables:
            frames = []
            for n in names:
                p = self.cell_dir(n) / f"{table}.csv"
                if p.exists():
                    frames.append(read_table(p))
                elif self.is_finished(n):
                    raise UserError(f"{p} is missing from a finished cell")
            frames = [f for f in frames if len(f)]
            df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            if write and frames:
                write_csv(self.path / f"{table}.csv", df)
            out[table] = df
        return out


def load_tables(
    run_dir,
    tables: Iterable[str],
    required: str,
    kind: str,
    command: str,
    columns: Iterable[str] = (),
    schemas: dict[str, Iterable[str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """The top-level tables of a finished or partial run, for reports: ``required`` must exist, match
    the run's kind and hold ``columns``; the others may be absent (empty frames); ``config`` is the parsed
    config.json. Every table read is validated (``common.tables.validate``: numbers where numbers belong,
    accuracies and ratios in [0, 1], whole counts), with the columns ``schemas[name]`` requires."""
    run_dir = Path(run_dir)
    found = dir_kind(run_dir)
    if found is not None and found not in (kind, "unknown") and (run_dir / "config.json").exists():
        raise UserError(f"{run_dir} holds {article(found)} {found} run, not {article(kind)} {kind} one")
    if not (run_dir / f"{required}.csv").is_file():
        raise UserError(f"{run_dir} holds no {required}.csv: run `corelocker-bounds {command} --out {run_dir}` first")
    out = {name: read_table(run_dir / f"{name}.csv", required=(name == required)) for name in tables}
    if not len(out[required]):
        raise UserError(f"{run_dir}/{required}.csv has no rows")
    missing = [c for c in columns if c not in out[required]]
    if missing:
        raise UserError(f"{run_dir}/{required}.csv is not a {kind} table (no column {missing[0]!r})")
    schemas = dict(schemas or {})
    schemas[required] = tuple(schemas.get(required, ())) + tuple(columns)
    for name, df in out.items():
        if len(df):
            out[name] = validate(df, run_dir / f"{name}.csv", schemas.get(name, ()))
    cfg = run_dir / "config.json"
    out["config"] = read_config(cfg) if cfg.is_file() else {}
    return out
