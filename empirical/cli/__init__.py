"""The ``corelocker-bounds`` command line: one entry point, ``--help`` on every subcommand.

Layout: ``parsers`` holds every subcommand's arguments (argparse only); the handlers live by
concern in ``nets`` (train, import, export), ``lock`` (lock, unlock, keygen, the utility search and
curve), ``measure`` (check-bounds) and ``experiments`` (grid, reproduce, figures, report, theory,
predict-ratio, table1, paper-widths, …); they parse nothing and print their results. ``main``
imports only the handler that runs, so ``--help`` does not load torch.

Errors the user can fix (bad ratio, wrong shapes, corrupt or mismatched checkpoint, wrong key,
a mistyped number) print one line ``corelocker-bounds: error: …`` and exit with status 2; warnings
raised on the way are shown only when the command succeeds; nothing half-written is left behind.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import warnings

from empirical._io import guard_inputs, note_input
from empirical.cli.parsers import PROG, build_parser
from empirical.errors import UserError
from empirical.experiments.common.arguments import OutputPath

__all__ = ["PROG", "build_parser", "main"]


def _error(message) -> int:
    """Print one error line: the whole message, its lines joined (terminal escape codes removed)."""
    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(message)).splitlines() if ln.strip()]
    print(f"{PROG}: error: {' '.join(lines) if lines else type(message).__name__}", file=sys.stderr)
    return 2


def _note_inputs(args) -> None:
    """Every existing file named on the command line that is not an output (``out_file``) is an input: no write
    of this command may replace it (``empirical._io.guard_inputs``). ``FILE.py:FUNCTION`` names ``FILE.py``."""
    for dest, value in vars(args).items():
        for v in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(v, OutputPath) or not isinstance(v, (str, os.PathLike)):
                continue
            text, flag = os.fspath(v), f"--{dest.replace('_', '-')}"
            note_input(text, flag)
            if ":" in text:
                note_input(text.rsplit(":", 1)[0], flag)


def _run(args) -> int:
    from tqdm.contrib.logging import logging_redirect_tqdm  # lazy: `--help` and a parse error never load tqdm

    module, func = args.handler.split(":")
    with guard_inputs(), logging_redirect_tqdm():  # log lines print above a progress bar instead of breaking it
        _note_inputs(args)
        # lazy: the handler module named by the parser (one of empirical.cli's own), so --help imports none
        return getattr(importlib.import_module(f"empirical.cli.{module}"), func)(args)


def _command(argv: list[str]) -> str:
    """The subcommand named in ``argv`` ("" when none): the only experiment whose options are loaded."""
    return next((a for a in argv if not a.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:  # building the parser imports the experiment named: Ctrl-C there is an interruption, not a traceback
        args = build_parser(_command(argv)).parse_args(argv)
    except UserError as exc:  # a mistyped option value (parsers.OneLineParser)
        return _error(exc)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            code = _run(args)
        except UserError as exc:
            return _error(exc)
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # output piped into `head` and closed: not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except OSError as exc:  # read-only or full disk, a directory where a file goes, …: one line naming the file
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            return _error(f"{where}{exc.strerror or exc}")
        except Exception as exc:
            from safetensors import SafetensorError  # lazy: only a failed command loads it here

            if not isinstance(exc, SafetensorError):  # a bug: let the traceback show
                raise
            return _error(str(exc).splitlines()[0])  # e.g. a full disk while writing
    for w in caught:  # the command succeeded: show what it warned about
        print(f"{PROG}: warning: {w.message}", file=sys.stderr)
    return code
