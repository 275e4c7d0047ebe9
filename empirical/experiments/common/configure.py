"""One configuration path for every experiment: its command-line options are the fields of its ``Config``, and a
configuration is a preset with the options given replacing the preset's values (``dataclasses.replace``).

A field becomes an option when its metadata holds ``option(help, ...)``: the flag is the field's name
(``--random-seeds`` for ``random_seeds``) unless given, the type comes from the annotation (``tuple[int, ...]``
reads ``4,8,13``) unless ``parse`` is given, and its default is the preset's value — written once, in the
preset, and shown in the help. ``combine(preset's value, given)`` merges a partial value (``--size resnet=1,8``
changes one architecture of the preset's sizes). A ``Config`` with its own ``overridden(**given)`` (instead of
``dataclasses.replace``) may check what was given together or name the result (the grid's ``cpu+custom``).

The registry adds the flags every experiment shares (``add_experiment_arguments``): ``--out``, the preset
(``--preset``, or the experiment's ``PRESET_FLAG``, with its ``PRESET_ALIASES`` such as ``--quick``), ``--only``
where the experiment has an ``ONLY`` example, ``--deadline`` where ``DEADLINE``, ``--no-progress`` and
``--device``; the experiment's own ``add_arguments`` adds only how it runs (its ``Options``, never its results).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from empirical.errors import UserError
from empirical.experiments.common.arguments import _common_device, float_list, int_list


@dataclass(frozen=True)
class Option:
    help: str
    flag: str | None = None  # default: --field-name
    parse: Callable[[str], Any] | None = None  # default: from the field's annotation
    combine: Callable[[Any, Any], Any] | None = None  # (the preset's value, the given one) -> the value
    repeat: bool = False  # the flag may be given several times (``parse`` then reads each)
    choices: tuple | None = None
    metavar: str | None = None
    required: bool = False  # no preset value stands in (the audit's --target-accuracy)
    show: Callable[[Any], str] | None = None  # how the help shows the preset's value


def pick(presets: dict, name: str, what: str = "preset"):
    """``presets[name]``, or one error line naming the choices (every experiment's presets)."""
    try:
        return presets[name]
    except KeyError:
        raise UserError(f"unknown {what} {name!r}; choose one of {', '.join(presets)}") from None


def option(help: str, **kw) -> dict:
    """The metadata that makes a ``Config`` field a command-line option: ``field(default=…, metadata=option(…))``."""
    return {"option": Option(help, **kw)}


def options_of(config_cls) -> list[tuple[dataclasses.Field, Option]]:
    return [(f, f.metadata["option"]) for f in dataclasses.fields(config_cls) if "option" in f.metadata]


def flag_of(f: dataclasses.Field, o: Option) -> str:
    return o.flag or "--" + f.name.replace("_", "-")


def _comma_strings(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def parser_for(hint) -> Callable[[str], Any]:
    """How to read one option's text from its annotation: ``int``, ``float``, ``str``, their ``| None`` and
    ``tuple[int | float | str, ...]`` (comma-separated)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return parser_for(args[0])
    if typing.get_origin(hint) is tuple and args:
        item = args[0]
        if item is int:
            return lambda t: tuple(int_list(t))
        if item is float:
            return lambda t: tuple(float_list(t))
        if item is str:
            return _comma_strings
    if hint in (int, float, str):
        return hint
    raise TypeError(f"no parser for an option of type {hint!r}: give option(..., parse=...)")


def shown(value) -> str:
    """A preset's value as the help shows it."""
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, dict):
        return " ".join(f"{k}={','.join(map(str, v))}" for k, v in value.items())
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_config_arguments(p: argparse.ArgumentParser, mod) -> None:
    """The preset flag (and its aliases) and one option per ``Config`` field that has ``option`` metadata."""
    presets, default = mod.PRESETS, mod.DEFAULT_PRESET
    flag = getattr(mod, "PRESET_FLAG", "--preset")
    names = f"{default} (the only one)" if len(presets) == 1 else f"{', '.join(presets)} (default: {default})"
    p.add_argument(
        flag,
        dest="preset",
        default=default,
        metavar=flag.lstrip("-").upper(),
        help=getattr(mod, "PRESET_HELP", f"{names}; the options below replace its values"),
    )
    for alias, name in getattr(mod, "PRESET_ALIASES", {}).items():
        p.add_argument(alias, dest="preset", action="store_const", const=name, help=f"the same as {flag} {name}")
    hints = typing.get_type_hints(mod.Config)
    base = presets[default]
    for f, o in options_of(mod.Config):
        flag = flag_of(f, o)
        metavar = o.metavar or (None if o.choices else flag.lstrip("-").upper().replace("-", "_"))
        kw: dict[str, Any] = dict(dest=f.name, default=None, metavar=metavar, choices=o.choices)
        kw["help"] = o.help if o.required else f"{o.help} (default: {(o.show or shown)(getattr(base, f.name))})"
        if o.repeat:
            kw.update(action="append", type=o.parse or str)
        else:
            kw["type"] = o.parse or parser_for(hints[f.name])
        if o.required:
            kw["required"] = True
        p.add_argument(flag, **kw)


def config_from_args(args: argparse.Namespace, mod):
    """The preset named on the command line with every option given replacing its value."""
    base = pick(mod.PRESETS, args.preset, f"{mod.KIND} {getattr(mod, 'PRESET_FLAG', '--preset').lstrip('-')}")
    given = {}
    for f, o in options_of(type(base)):
        value = getattr(args, f.name, None)
        if value is not None:
            given[f.name] = o.combine(getattr(base, f.name), value) if o.combine else value
    if hasattr(base, "overridden"):
        return base.overridden(**given)
    return dataclasses.replace(base, **given)


def add_experiment_arguments(p: argparse.ArgumentParser, mod) -> None:
    """Every option of an experiment's command: the shared flags, its ``Config``'s and its own run options."""
    p.add_argument("--out", type=Path, required=True, help="run directory (resumed if it exists)")
    add_config_arguments(p, mod)
    mod.add_arguments(p)
    if getattr(mod, "ONLY", None):
        p.add_argument("--only", help=f"cells to run now, e.g. {mod.ONLY} (default: all, in the run's order)")
    if getattr(mod, "DEADLINE", False):
        p.add_argument(
            "--deadline",
            type=float,
            help="stop in time: no epoch starts unless the slowest so far ends within this many seconds of the start "
            "(every finished epoch's rows are written; run again to go on)",
        )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _common_device(p)


def common_options(args: argparse.Namespace) -> dict:
    """The ``Options`` every experiment shares, from the shared flags: device, progress and ``only``."""
    only = getattr(args, "only", None)
    return dict(
        device=args.device,
        progress=not args.no_progress,
        only=_comma_strings(only) if only is not None else None,
    )


def configure(args: argparse.Namespace, mod):
    """(config, options) of an experiment's command line: its preset with the options given, and how it runs."""
    return config_from_args(args, mod), mod.options(args)
