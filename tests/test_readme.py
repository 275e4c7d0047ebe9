"""The README's "Python API on your own nn.Module" block runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_api_section_runs(mnist, tmp_path, monkeypatch, capsys):
    text = README.read_text()
    section = text[text.index("## Python API on your own `nn.Module`") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md (Python API)", "exec"), {})
    out = capsys.readouterr().out
    assert "k = " in out and "sandwich_holds_frac" in out
    assert (tmp_path / "my_mlp_disparities.png").stat().st_size > 1000
    import empirical

    assert callable(empirical.lock_file) and callable(empirical.unlock_file)  # the names the prose promises
