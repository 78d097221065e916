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


def test_loss_curves_mark_single_points_and_say_what_each_term_is(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from deepgen.viz import curves

    drawn = []
    monkeypatch.setattr(curves, "save_figure", lambda fig, path, dpi: drawn.append(fig))
    rows = [{"step": 2, "D/real": 0.6, "D/fake": 0.7, "D/d_real": 0.5}, {"step": 4, "D/real": 0.5, "samples/x": 1.0}]
    curves.plot_losses(rows, tmp_path / "curves.png", "t")
    d, samples = drawn[0].axes
    labels = [line.get_label() for line in d.get_lines()]
    assert labels == ["d_real: D(x): mean score of real images", "fake: loss on generated images",
                      "real: loss on real images"]  # fmt: skip
    assert [line.get_marker() for line in samples.get_lines()] == ["o"]  # one point: a marker, not an empty panel
    assert d.get_lines()[2].get_marker() in (None, "None", "")
