"""The CLI end to end: one clear error line and exit 2 on bad input, nothing half-written."""

import subprocess
import sys

import pandas as pd
import pytest

from empirical.cli import build_parser, main
from empirical.experiments.common import registry

# the commands of the CLI itself, and every registered experiment (a new one joins by its registry line alone)
COMMANDS = [
    "theory",
    "train",
    "lock",
    "unlock",
    "check-bounds",
    "reproduce",
    "figures",
    "report",
    "utility-curve",
    "ratio-for-utility",
    "predict-ratio",
    "keygen",
    "import",
    "export",
    *registry.kinds(),
]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_for_every_subcommand(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([cmd, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage:" in out
    assert "%%" not in out  # argparse formats help texts but prints descriptions as written


def test_every_subcommand_is_listed():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_lock_unlock_check_bounds(tiny_run, tmp_path, capsys):
    run_dir, *_ = tiny_run
    locked, key, restored = tmp_path / "locked.safetensors", tmp_path / "key.safetensors", tmp_path / "r.safetensors"
    code, out, _ = run(
        ["lock", "--checkpoint", str(run_dir), "--ratio", "0.01", "--out-model", str(locked), "--key", str(key)], capsys
    )
    assert code == 0 and "key" in out
    code, out, _ = run(["unlock", "--checkpoint", str(locked), "--key", str(key), "--out", str(restored)], capsys)
    assert code == 0 and "identical to the original" in out
    code, out, _ = run(
        ["check-bounds", str(run_dir), "--ratio", "0.05", "--n-samples", "500", "--out", str(tmp_path / "chk")], capsys
    )
    assert code == 0 and "sandwich" in out
    df = pd.read_csv(tmp_path / "chk" / "bounds_checks.csv")
    assert list(df.layer) == [1, 2, 3, 4] and (df.sandwich_holds_frac == 1).all()
    assert len(pd.read_csv(tmp_path / "chk" / "samples.csv")) == 500 * 4


def bad_cases(tiny_run, tmp_path):
    run_dir, *_ = tiny_run
    text = tmp_path / "text.safetensors"
    text.write_text("hello")
    other_dir = tmp_path / "other"
    main(
        [
            "train",
            "--hidden-layers",
            "3",
            "--width",
            "8",
            "--epochs",
            "1",
            "--train-subset",
            "300",
            "--out",
            str(other_dir),
            "--no-progress",
        ]
    )
    main(
        [
            "lock",
            "--checkpoint",
            str(other_dir),
            "--ratio",
            "0.1",
            "--out-model",
            str(tmp_path / "ol.safetensors"),
            "--key",
            str(tmp_path / "ok.safetensors"),
        ]
    )
    main(
        [
            "lock",
            "--checkpoint",
            str(run_dir),
            "--ratio",
            "0.1",
            "--out-model",
            str(tmp_path / "ml.safetensors"),
            "--key",
            str(tmp_path / "mk.safetensors"),
        ]
    )
    out = str(tmp_path / "out.safetensors")
    return [
        (["lock", "--checkpoint", str(run_dir), "--ratio", "1.5", "--out-model", out, "--key", out + ".k"], "ratio"),
        (["lock", "--checkpoint", str(run_dir), "--ratio", "nan", "--out-model", out, "--key", out + ".k"], "ratio"),
        (
            [
                "lock",
                "--checkpoint",
                str(run_dir),
                "--ratio",
                "0.1",
                "--indicator",
                "l7",
                "--out-model",
                out,
                "--key",
                out + ".k",
            ],
            "indicator",
        ),
        (
            ["lock", "--checkpoint", str(text), "--ratio", "0.1", "--out-model", out, "--key", out + ".k"],
            "not a readable",
        ),
        (
            ["lock", "--checkpoint", str(tmp_path / "nope"), "--ratio", "0.1", "--out-model", out, "--key", out + ".k"],
            "does not exist",
        ),
        (
            [
                "unlock",
                "--checkpoint",
                str(tmp_path / "ml.safetensors"),
                "--key",
                str(tmp_path / "ok.safetensors"),
                "--out",
                out,
            ],
            "does not belong",
        ),
        (
            ["unlock", "--checkpoint", str(tmp_path / "ml.safetensors"), "--key", str(text), "--out", out],
            "not a readable access key",
        ),
        (["check-bounds", str(run_dir), "--ratio", "-1"], "ratio"),
        (["check-bounds", str(run_dir), "--n-samples", "0"], "n-samples"),
        (["train", "--hidden-layers", "0", "--width", "8", "--out", str(tmp_path / "t")], "hidden_layers"),
        (["theory", "--preset", "huge"], "preset"),
        (["check-bounds", str(run_dir), "--device", "cuda"], "CUDA"),
        (["ratio-for-utility", "--checkpoint", str(run_dir), "--target", "0.05"], "target accuracy"),
        (["ratio-for-utility", "--checkpoint", str(run_dir), "--target", "1.5"], "target accuracy"),
        (["ratio-for-utility", "--checkpoint", str(run_dir), "--target", "abc"], "target accuracy"),
        (["ratio-for-utility", "--checkpoint", str(run_dir), "--target", "0.5", "--tolerance", "-1"], "tolerance"),
        (["ratio-for-utility", "--checkpoint", str(text), "--target", "0.5"], "not a readable"),
        (
            [
                "lock",
                "--checkpoint",
                str(run_dir),
                "--target-accuracy",
                "0.01",
                "--out-model",
                out,
                "--key",
                out + ".k",
            ],
            "target accuracy",
        ),
        (
            [
                "lock",
                "--checkpoint",
                str(run_dir),
                "--target-accuracy",
                "0.5",
                "--mode",
                "per-layer",
                "--out-model",
                out,
                "--key",
                out + ".k",
            ],
            "per-layer",
        ),
        (["utility-curve", "--checkpoint", str(run_dir), "--ratios", "0,0.1", "--out", str(tmp_path / "u")], "ratio"),
        (["utility-curve", "--checkpoint", str(run_dir), "--ratios", ",", "--out", str(tmp_path / "u")], "empty"),
        (
            ["utility-curve", "--checkpoint", str(run_dir), "--random-seeds", "0", "--out", str(tmp_path / "u")],
            "random-seeds",
        ),
        (["utility-curve", "--checkpoint", str(run_dir), "--out", str(text / "sub")], "cannot write"),
        (["predict-ratio", "--run", str(tmp_path / "nope"), "--target", "0.5"], "results.csv"),
        (["predict-ratio", "--run", str(run_dir), "--target", "1.5"], "target accuracy"),
        (["report", str(tmp_path / "nope")], "results.csv"),
        (["figures", str(tmp_path / "nope")], "results.csv"),
    ]


def test_bad_input_gives_one_line_and_exit_2(tiny_run, tmp_path, capsys):
    for args, match in bad_cases(tiny_run, tmp_path):
        capsys.readouterr()
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2, args
        lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("INFO")]
        assert len(lines) == 1 and lines[0].startswith("corelocker-bounds: error:") and match in lines[0], (args, err)
        assert not (tmp_path / "out.safetensors").exists() and not (tmp_path / "out.safetensors.k").exists()
    assert not list(tmp_path.glob(".*.tmp"))  # no temp files left behind


def test_console_script_exit_code(tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "empirical.cli",
            "lock",
            "--checkpoint",
            str(tmp_path / "x"),
            "--ratio",
            "0.1",
            "--out-model",
            str(tmp_path / "a"),
            "--key",
            str(tmp_path / "b"),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr and res.stderr.count("\n") == 1


def test_utility_commands_end_to_end(tiny_run, tmp_path, capsys):
    import json

    from empirical.lock.extraction import AccessKey

    run_dir, *_ = tiny_run
    code, out, _ = run(["ratio-for-utility", "--checkpoint", str(run_dir), "--target", "0.5", "--json"], capsys)
    found = json.loads(out)
    assert code == 0 and found["accuracy"] <= 0.5 and {"ratio", "k", "accuracy", "accuracy_heldout"} <= set(found)
    key = tmp_path / "k.safetensors"
    code, out, _ = run(
        [
            "lock",
            "--checkpoint",
            str(run_dir),
            "--target-accuracy",
            "0.5",
            "--out-model",
            str(tmp_path / "m.safetensors"),
            "--key",
            str(key),
        ],
        capsys,
    )
    meta = AccessKey.load(key).meta
    assert code == 0 and meta["k_total"] == found["k"] and meta["target_accuracy"] == 0.5
    assert meta["achieved_accuracy"] == found["accuracy"] and "candidate units" in out
    code, out, _ = run(
        [
            "utility-curve",
            "--checkpoint",
            str(run_dir),
            "--ratios",
            "0.00002,0.01,0.1,0.3",
            "--random-seeds",
            "2",
            "--out",
            str(tmp_path / "u"),
        ],
        capsys,
    )
    curve = pd.read_csv(tmp_path / "u" / "curve.csv")
    assert code == 0 and len(curve) == 4 * 3 and (tmp_path / "u" / "utility_curve.png").stat().st_size > 0
    assert set(pd.read_csv(tmp_path / "u" / "table5.csv")["indicator"]) <= {"l1", "random"}


def test_log_lines_go_through_the_progress_bar(monkeypatch):
    """Issue 27 item 9: while a command runs, the console log handler writes through tqdm (a log line lands
    above a progress bar, not inside it)."""
    import logging

    import empirical.cli.experiments as handlers

    seen = []
    monkeypatch.setattr(
        handlers, "cmd_theory", lambda args: seen.extend(type(h).__name__ for h in logging.root.handlers) or 0
    )
    assert main(["theory"]) == 0
    assert "_TqdmLoggingHandler" in seen
