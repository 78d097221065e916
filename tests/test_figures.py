"""Figures are drawn without pyplot: deepgen never switches a notebook's matplotlib backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import matplotlib, torch
matplotlib.use("svg")  # a backend that is not Agg, standing in for a notebook's inline backend
from deepgen.latent.embedding import knn_accuracy
from deepgen.latent.figures import image_panels
from deepgen.viz.curves import plot_losses
out = __import__("pathlib").Path(r"{out}")
plot_losses([{{"step": 1, "D/loss": 1.0}}, {{"step": 2, "D/loss": 0.5}}], out / "curves.png", "t")
image_panels([("a", torch.zeros(1, 8, 8, dtype=torch.uint8))], out / "panels.png", "t")
print(matplotlib.get_backend())
"""


def test_plots_leave_the_matplotlib_backend_alone(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(out=tmp_path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "svg"
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "panels.png").stat().st_size > 0
