"""One configuration path (``empirical.experiments.common.configure``): every experiment's options are its Config's
fields, a configuration is a preset with the options given replacing its values, and the committed runs'
configurations come back from the commands that made them (so each of them resumes)."""

import json
from dataclasses import fields
from pathlib import Path

import pytest

from empirical.cli import main
from empirical.cli.parsers import build_parser
from empirical.errors import UserError
from empirical.experiments.common import configure, registry
from empirical.experiments.paper_widths.config import Cell

ROOT = Path(__file__).resolve().parents[4]


def help_of(command: str) -> str:
    sub = build_parser(command)._subparsers._group_actions[0].choices[command]
    return " ".join(sub.format_help().split())


def config_of(*argv):
    args = build_parser(argv[0]).parse_args([*argv, "--out", "unused"])
    return configure.config_from_args(args, registry.experiment(argv[0]))


def test_no_option_given_is_the_default_preset_itself():
    """A default is written once: with no option the configuration is the preset, field for field."""
    for kind in registry.kinds():
        mod = registry.experiment(kind)
        if kind == "audit":  # its target has no default: the one required option
            assert config_of(kind, "--target-accuracy", "0.15", "--checkpoint", "m") == mod.PRESETS[mod.DEFAULT_PRESET]
            continue
        assert config_of(kind) == mod.PRESETS[mod.DEFAULT_PRESET], kind


@pytest.mark.parametrize(
    "command, run",
    [
        (["table1"], "fashion-mnist"),
        (["ablation", "--review-cells"], "fashion-mnist-ablation"),
        (["grid", "--preset", "cpu"], "cpu"),
        (["grid"], "quick"),
        (["paper-widths", "--preset", "paper-region"], "paper-region"),
        (["paper-widths"], "paper-corner"),
        (["attacks"], "attacks"),
        (["other-archs"], "other-archs"),
    ],
)
def test_the_committed_runs_configurations_come_back_from_their_commands(command, run):
    """Otherwise the command that made a committed run refuses to resume it ("another configuration")."""
    on_disk = json.loads((ROOT / "results" / run / "config.json").read_text())
    config = config_of(*command)
    defaults = {f.name: f.default for f in fields(config)}  # fields added since the run: at their defaults
    got = {k: v for k, v in config.to_json().items() if k in on_disk or v != defaults[k]}
    for grows in ("extra_cells", "models"):  # a run that extends (ablation cells, attack models): its own come first
        if grows in on_disk:
            assert got.pop(grows)[: len(on_disk[grows])] == on_disk.pop(grows)
    assert got == on_disk


def test_options_replace_the_presets_values():
    cfg = config_of("grid", "--preset", "tiny", "--widths", "8,4,8", "--seeds", "1,0", "--precision", "bf16")
    assert cfg.widths == (4, 8) and cfg.seeds == (0, 1) and cfg.precision == "bf16"
    assert cfg.hidden_layers == (2, 3) and cfg.train_subset == 2000  # the preset's
    assert cfg.preset == "tiny+custom"  # the networks changed
    assert config_of("grid", "--preset", "tiny", "--seeds", "1").preset == "tiny"  # more seeds: the same networks
    t1 = config_of("table1", "--archs", "vgg,resnet", "--size", "resnet=1,8", "--random-seeds", "1")
    assert t1.sizes == {"vgg": [2, 16], "resnet": [1, 8]}  # the preset's vgg, the given resnet, no densenet
    assert t1.curve_random_seeds == 1  # of the random seeds, at most all are swept
    pw = config_of("paper-widths", "--preset", "paper-corner", "--epochs", "7")
    assert {c.epochs for c in pw.cells} == {7} and pw.cells[0] == Cell(7, 3000, 7)
    audit = config_of("audit", "--checkpoint", "m", "--target-accuracy", "0.2", "--budget", "standard")
    assert audit.target == 0.2 and audit.attacker_shares() == (0.01, 0.05, 0.1)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["table1", "--archs", "vgg", "--size", "resnet=1,8"], "--size names resnet, which is not run"),
        (["table1", "--size", "alexnet=1,8"], "unknown architecture 'alexnet'"),
        (["table1", "--size", "vgg=1"], "expected ARCH=H,W"),
        (["ablation", "--recipes", "adam,cosine"], "cosine"),
        (["grid", "--preset", "huge"], "unknown grid preset 'huge'; choose one of paper, cpu, quick, tiny"),
        (["grid", "--widths", ""], "--widths is empty"),
        (["paper-widths", "--epochs", "0"], "each >= 1"),
        (["audit", "--checkpoint", "m", "--target-accuracy", "0.2", "--budget", "huge"], "unknown audit budget 'huge'"),
    ],
)
def test_a_bad_option_is_one_error_line(argv, message):  # an argparse error is a UserError here (OneLineParser)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("'", ".")):
        config_of(*argv)


def test_a_bad_option_leaves_no_run_directory(tmp_path, one_error):
    out = tmp_path / "run"
    one_error(main(["table1", "--out", str(out), "--archs", "vgg", "--size", "resnet=1,8"]), "which is not run")
    assert not out.exists()


def test_the_help_shows_each_presets_value():
    assert "(default: vgg,resnet,densenet)" in help_of("table1")
    assert (
        "--size ARCH=H,W an architecture's (hidden_layers, width), e.g. resnet=1,8; repeatable (default: vgg=2,16 "
        in help_of("table1")
    )
    flat = help_of("paper-widths")
    assert "--epochs EPOCHS train every cell for this many epochs (default: the preset's per cell: 50 or 2)" in flat
    assert "--preset PRESET paper-region, paper-corner, epoch-trend, tiny (default: paper-corner)" in flat


def test_the_annotation_says_how_to_read_an_option():
    read = configure.parser_for
    assert read(tuple[int, ...])("4, 8") == (4, 8)
    assert read(tuple[float, ...])("0.1,1e-3") == (0.1, 0.001)
    assert read(tuple[str, ...])("vgg, resnet,") == ("vgg", "resnet")
    assert read(int | None)("3") == 3
    with pytest.raises(TypeError, match="no parser"):
        read(dict)
