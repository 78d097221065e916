"""The example notebook runs top to bottom in a real Jupyter kernel and shows what it promises."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[1] / "examples" / "quickstart.ipynb"


def test_quickstart_notebook_runs(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "clear the notebook's outputs"
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    assert (tmp_path / "quickstart-vae" / "config.yaml").is_file()
    texts = ["".join(o.get("data", {}).get("text/plain", "") for o in c.outputs) for c in code]
    assert "torch.Size([16, 1, 8, 8])" in texts
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs)  # the grid
    assert "'fid[classifier:digits]'" in texts[-1] and "'precision[classifier:digits]'" in texts[-1]
