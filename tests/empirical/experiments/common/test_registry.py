"""The experiment registry: the CLI, ``report DIR``, run-kind detection and the docs dispatch through it, and a new
experiment is one package registered under its kind — shown with a toy experiment, written as a package here and
run end to end through ``main``: run, resume without redoing a cell, print its summary, write its report, and
appear in the docs (its page, its README line, its navigation entry) through ``scripts/docs.py`` with nothing else
touched."""

import json
import sys
import textwrap

import pytest

from empirical.cli import main
from empirical.experiments.common import registry
from empirical.host import cpu_model
from empirical.kinds import dir_kind

TOY = '''
"""A toy experiment: cell i writes the table squares with the row (i, i * i)."""
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from empirical.errors import UserError
from empirical.experiments.common.configure import common_options, option
from empirical.experiments.common.rundir import Options, RunDir, check_only, load_tables
from empirical.experiments.common.verdicts import table
from toy_experiment import page

KIND = "toy"
DESCRIPTION = "squares, one cell each"
RAN = []  # the cells computed by this process (a resumed run adds none)


@dataclass(frozen=True)
class Config:
    n: int = field(default=2, metadata=option("squares to compute"))
    kind: str = KIND

    def __post_init__(self):
        if self.n < 1:
            raise UserError(f"--n must be >= 1, got {self.n}")


PRESETS = {"default": Config(), "big": Config(n=4)}
DEFAULT_PRESET = "default"
ONLY = "c0,c2"


def add_arguments(p):
    """Nothing beyond the shared flags and the Config's options."""


def options(args):
    return Options(**common_options(args))


def run(config, run_dir, options=Options()):
    rd = RunDir(run_dir, KIND, asdict(config), ("squares",))
    names = [f"c{i}" for i in range(config.n)]
    check_only(options.only, names)  # before the directory is touched

    def run_one(name):
        i = int(name[1:])
        RAN.append(name)
        rd.finish(name, {"squares": pd.DataFrame({"i": [i], "square": [i * i]})}, {"i": i})

    with rd.open():
        tables = rd.run_cells(names, run_one, options.only)
        write_report(run_dir)
    return tables


def summary(config, tables):
    return f"toy: {len(tables['squares'])} of {config.n} squares"


def verdicts(run_dir):
    t = load_tables(Path(run_dir), ("squares",), "squares", KIND, KIND)
    ok = bool((t["squares"]["square"] == t["squares"]["i"] ** 2).all())
    return table([dict(where="toy", claim="every square is a square", verdict="PASS" if ok else "FAIL")])


def write_report(run_dir):
    t = load_tables(Path(run_dir), ("squares",), "squares", KIND, KIND)
    path = Path(run_dir) / "report.md"
    path.write_text(f"# toy: sum of squares {int(t['squares']['square'].sum())}\\n")
    return path
'''


TOY_PAGE = '''
"""The toy's docs page and README line."""
PAGE = "docs/results/toy.md"
TITLE = "Squares (a toy)"
NAV = "Toy squares"


def page():
    return "Every square is a square."


def glance():
    return "* *Toy*: the squares add up ([page](@docs/results/toy.md)).\\n"
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    src = tmp_path / "src"
    (src / "toy_experiment").mkdir(parents=True)
    (src / "toy_experiment" / "__init__.py").write_text(textwrap.dedent(TOY))
    (src / "toy_experiment" / "page.py").write_text(textwrap.dedent(TOY_PAGE))
    monkeypatch.syspath_prepend(str(src))
    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))
    registry.register("toy", "toy_experiment", "squares (a toy)")
    yield sys.modules.get("toy_experiment") or __import__("toy_experiment")
    for name in ("toy_experiment", "toy_experiment.page"):
        sys.modules.pop(name, None)


def test_every_kind_resolves_to_a_module_with_the_whole_face():
    assert registry.kinds() == ["grid", "paper-widths", "table1", "ablation", "attacks", "other-archs", "audit"]
    for kind in registry.kinds():
        mod = registry.experiment(kind)  # raises when a name of the face is missing
        assert mod.KIND == kind
        assert set(mod.PRESETS) and all(isinstance(c, mod.Config) for c in mod.PRESETS.values())
        assert mod.DEFAULT_PRESET in mod.PRESETS


def test_a_module_without_the_whole_face_is_refused(tmp_path, monkeypatch):
    (tmp_path / "half_experiment.py").write_text("KIND = 'half'\ndef run(config, run_dir, options): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))
    registry.register("half", "half_experiment", "half an experiment")
    with pytest.raises(TypeError, match="lacks DESCRIPTION, Config, PRESETS, DEFAULT_PRESET, add_arguments, options"):
        registry.experiment("half")


def test_a_toy_experiment_is_one_module(toy, tmp_path, capsys, one_error):
    out = tmp_path / "run"
    assert main(["toy", "--out", str(out), "--n", "3", "--only", "c0,c2"]) == 0
    assert toy.RAN == ["c0", "c2"]
    assert "toy: 2 of 3 squares" in capsys.readouterr().out
    assert main(["toy", "--out", str(out), "--n", "3"]) == 0  # resumes: only the missing cell runs
    assert toy.RAN == ["c0", "c2", "c1"]
    assert (out / "squares.csv").read_text().splitlines() == ["i,square", "0,0", "1,1", "2,4"]
    assert (out / "report.md").read_text() == "# toy: sum of squares 5\n"
    assert dir_kind(out) == "toy" and json.loads((out / "config.json").read_text())["kind"] == "toy"
    assert json.loads((out / "cells" / "c1" / "done.json").read_text())["host"] == cpu_model()
    # its report through `report DIR`, and the options it does not take refused by name
    (out / "report.md").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.md").exists()
    one_error(main(["report", str(out), "--grid-run", str(out)]), "--grid-run does not apply to a toy run")
    # bad input: its own checks, another configuration, an unknown cell, another kind's directory
    one_error(main(["toy", "--out", str(out), "--n", "0"]), "--n must be >= 1")
    one_error(main(["toy", "--out", str(out), "--n", "4"]), "another configuration (differs in: n)")
    one_error(main(["toy", "--out", str(tmp_path / "new"), "--only", "c9"]), "cell(s) c9 are not in this")
    assert not (tmp_path / "new").exists()
    one_error(main(["ablation", "--out", str(out), "--only", "vgg_adam"]), "holds a toy run, not an ablation")


def test_legacy_configs_are_recognised_by_the_registered_fields(tmp_path):
    for kind, config in (("grid", {"widths": [1], "hidden_layers": [2]}), ("table1", {"archs": ["vgg"]}),
                         ("paper-widths", {"cells": [[7, 3000, 50]]}), ("unknown", {"foo": 1})):  # fmt: skip
        d = tmp_path / kind
        d.mkdir()
        (d / "config.json").write_text(json.dumps(config))
        assert dir_kind(d) == kind


def test_a_run_that_leaves_an_earlier_report_says_so(toy, tmp_path, capsys, monkeypatch):
    """`wrote report.md` only when this run wrote it; an earlier run's report is named as such."""
    out = tmp_path / "run"
    assert main(["toy", "--out", str(out), "--n", "2"]) == 0
    assert f"wrote {out / 'report.md'}" in capsys.readouterr().out
    monkeypatch.setattr(toy, "write_report", lambda run_dir: None)  # an experiment whose run writes no report
    assert main(["toy", "--out", str(out), "--n", "2"]) == 0
    printed = capsys.readouterr().out
    assert "wrote" not in printed and f"{out / 'report.md'} is from an earlier run" in printed


def test_a_new_experiment_reaches_the_docs_by_its_registry_line_alone(toy, monkeypatch):
    """``scripts/docs.py`` writes the toy's page, its README line, the results index and the nav entry."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    spec = importlib.util.spec_from_file_location("docs_script", root / "scripts" / "docs.py")
    docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(docs)
    monkeypatch.chdir(root)
    out = docs.outputs()
    assert (
        out["docs/results/toy.md"].startswith("# Squares (a toy)")
        and "Every square is a square." in out["docs/results/toy.md"]
    )
    assert "* *Toy*: the squares add up ([page](docs/results/toy.md))." in out["README.md"]
    assert "([page](../results/toy.md))" in out["docs/results/index.md"]
    assert "      - Toy squares: results/toy.md" in out["mkdocs.yml"]
