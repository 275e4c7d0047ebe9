"""paper_checks.ipynb runs headless, end to end, and reports its verdicts."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "paper_checks.ipynb"


def test_notebook_executes(mnist, tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("name") == "stdout"
    )
    assert "PASS" in text and "VACUOUS" in text and "FAIL" in text
    for where in ("Property 1", "Lemma 4", "Theorem 1", "Theorem 2", "Theorem 3", "Figure 5"):
        assert where in text, where
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
