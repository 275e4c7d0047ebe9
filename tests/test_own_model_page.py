"""``docs/own-model.md`` runs as written (issue 41): its Python block, then every command of its bash block, in a
fresh directory; each command exits 0 and leaves what the page says it leaves."""

import os
import re
import shlex
from pathlib import Path

import pytest

from empirical.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "own-model.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", PAGE.read_text(), re.S)


@pytest.mark.slow
def test_the_own_model_walkthrough_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (python,) = _blocks("python")
    exec(compile(python, str(PAGE), "exec"), {"__name__": "walkthrough"})
    (bash,) = _blocks("bash")
    for line in [ln for ln in bash.splitlines() if ln.startswith("corelocker-bounds ")]:
        assert main(shlex.split(line)[1:]) == 0, line
    for made in ("mynet.safetensors", "locked.safetensors", "key.safetensors", "restored.safetensors",
                 "check/bounds_checks.csv", "curve/table5.csv", "attacks/report.md"):  # fmt: skip
        assert (tmp_path / made).exists(), made
    assert os.path.getsize(tmp_path / "attacks" / "report.md") > 0
    text = (tmp_path / "attacks" / "report.md").read_text()
    assert "the lock" in text and "fine-tuning" in text
