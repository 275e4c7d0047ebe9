"""The experiment registry: ``report DIR`` dispatches on the run's kind through it, and a new experiment is one
module registered under its kind (shown with a toy experiment run end to end through ``main``)."""

import json
import sys
import types

from empirical.cli import main
from empirical.experiments import registry


def test_every_kind_resolves_to_a_module_with_write_report():
    for kind in registry.kinds():
        assert callable(registry.experiment(kind).write_report), kind


def test_a_toy_experiment_is_one_module(tmp_path, monkeypatch, capsys, one_error):
    toy = types.ModuleType("toy_experiment")

    def write_report(run_dir, ratio=None):
        path = run_dir / "report.md"
        path.write_text(f"# toy report (ratio {ratio})\n")
        return path

    toy.write_report = write_report
    monkeypatch.setitem(sys.modules, "toy_experiment", toy)
    monkeypatch.setattr(registry, "_MODULES", {**registry._MODULES, "toy": "toy_experiment"})
    (tmp_path / "config.json").write_text(json.dumps({"kind": "toy"}))
    assert main(["report", str(tmp_path), "--ratio", "0.01"]) == 0
    assert (tmp_path / "report.md").read_text() == "# toy report (ratio 0.01)\n"
    one_error(main(["report", str(tmp_path), "--grid-run", str(tmp_path)]), "--grid-run does not apply to a toy run")
