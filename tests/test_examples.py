"""The example notebook runs top to bottom in a real Jupyter kernel, shows what it promises, and runs again in
the same folder without touching the first run (its second run goes to quickstart-vae-2)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[1] / "examples" / "quickstart.ipynb"


def execute(folder: Path) -> list[str]:
    """Run the notebook in `folder`; the text/plain output of each code cell."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "clear the notebook's outputs"
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs)  # the grid
    return ["".join(o.get("data", {}).get("text/plain", "") for o in c.outputs) for c in code]


def test_quickstart_notebook_runs_twice(tmp_path: Path) -> None:
    texts = execute(tmp_path)
    first = (tmp_path / "quickstart-vae" / "config.yaml").read_bytes()
    assert "torch.Size([16, 1, 8, 8])" in texts
    assert texts[-1].startswith("('classifier:digits', ")  # row.features, row.fid, row.precision

    texts = execute(tmp_path)
    assert (tmp_path / "quickstart-vae" / "config.yaml").read_bytes() == first
    assert "quickstart-vae-2" in texts[1] and (tmp_path / "quickstart-vae-2" / "config.yaml").is_file()
    assert texts[-1].startswith("('classifier:digits', ")
