"""What kind of run a directory holds (grid, table1, train, check-bounds, …): its marker file, or a fixed table of the
configurations and files the first runs wrote before markers existed, so the answer never depends on what happens to
be imported; and the claim a command stakes on a directory before writing into it."""

from __future__ import annotations

import json
from pathlib import Path

from empirical._io import write_text
from empirical.errors import UserError

# ------------------------------------------------------------------------------- run directories
KIND_MARKER = ".corelocker-run.json"


_KIND_FILES = {  # what each kind of directory holds, to recognise one written before the marker existed:
    # any one of the file sets, each complete (a lone summary.json is anyone's; spec.json alone is a started train)
    "train": (("spec.json",), ("train_state.safetensors",)),
    "check-bounds": (("summary.json", "bounds_checks.csv"),),
    "utility-curve": (("table5.csv", "curve.csv"),),
    "predict-ratio": (("heldout_one_network.csv", "predictions.csv"),),
}


# (kind, fields): a ``config.json`` without a ``kind`` that holds all of ``fields`` is a ``kind`` run (the runs the
# first experiments wrote before configurations recorded their kind; every configuration written since names it).
# A fixed table, so the answer never depends on which modules happen to be imported.
_LEGACY_CONFIGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("grid", ("widths", "hidden_layers")),
    ("table1", ("archs",)),
    ("paper-widths", ("cells",)),
)


def _config_kind(config) -> str | None:
    if not isinstance(config, dict):
        return "unknown"
    if "kind" in config:
        return str(config["kind"])
    for kind, fields in _LEGACY_CONFIGS:
        if all(f in config for f in fields):
            return kind
    return "unknown"


def dir_kind(path) -> str | None:
    """What kind of run ``path`` holds (``grid``, ``table1``, ``train``, ``check-bounds``, …), or None when it
    does not exist or holds nothing of ours."""
    path = Path(path)
    if not path.is_dir():
        return None
    marker = path / KIND_MARKER
    if marker.is_file():
        try:
            return str(json.loads(marker.read_text())["kind"])
        except (OSError, ValueError, KeyError, TypeError):
            return "unknown"
    if (path / "config.json").is_file():
        try:
            return _config_kind(json.loads((path / "config.json").read_text()))
        except (OSError, ValueError):
            return "unknown"
    for kind, sets in _KIND_FILES.items():
        if any(all((path / f).exists() for f in files) for files in sets):
            return kind
    if (path / "model.safetensors").exists():
        return "checkpoint"
    return None


def article(word: str) -> str:
    """ "a" or "an" before a run kind (an ablation, an attacks run, a grid)."""
    return "an" if word[:1] in "aeio" else "a"


def claim_dir(path, kind: str, outputs=()) -> None:
    """Refuse to write a ``kind`` run into a directory that holds a run of another kind, or files named
    like our ``outputs`` that another command wrote (nothing is created here; ``mark_dir`` does that)."""
    path = Path(path)
    found = dir_kind(path)
    if found == "unknown":
        raise UserError(
            f"{path} holds a config.json or run marker that is not ours (no corelocker-bounds run wrote it): "
            "choose another --out (nothing was written)"
        )
    if found is not None and found != kind:
        raise UserError(
            f"{path} holds {article(found)} {found} run, not {article(kind)} {kind} one: choose another --out "
            "(nothing was written)"
        )
    if found is None:
        clash = [f for f in outputs if (path / f).exists()]
        if clash:
            raise UserError(f"{path} already holds {clash[0]}, not written by {kind}: choose another --out")


def mark_dir(path, kind: str) -> None:
    """Record which kind of run ``path`` holds (after ``claim_dir``)."""

    path = Path(path)
    if not (path / KIND_MARKER).exists():
        write_text(path / KIND_MARKER, json.dumps({"kind": kind}) + "\n")
