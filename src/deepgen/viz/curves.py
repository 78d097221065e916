"""Loss curves from metrics.jsonl."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from deepgen.viz.figures import save_figure

NOT_CURVES = {"step", "elapsed_s", "img_per_s"}
OWN_PANELS = {"grad_norm": "gradient norms"} | dict.fromkeys(("ada_p", "r_sign", "saturation"), "critic overfitting")
MEANING = {  # what a logged term is, in the legend
    "real": "loss on real images",
    "fake": "loss on generated images",
    "d_real": "D(x): mean score of real images",
    "d_fake": "D(G(z)): mean score of generated",
    "loss": "sum of the phase's loss terms",
    "adv": "generator's adversarial loss",
    "gp": "gradient penalty",
    "w_estimate": "Wasserstein estimate D(x) - D(G(z))",
}


def plot_losses(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """One panel per phase (key prefix before '/'), one line per term; gradient norms, and the critic's
    overfitting signals (augmentation p, r, saturation), get panels of their own; health warnings are dashed lines."""
    keys = sorted({k for r in rows for k, v in r.items() if k not in NOT_CURVES and not isinstance(v, str)})
    panels: dict[str, list[str]] = {}
    for k in keys:
        panels.setdefault(OWN_PANELS.get(k.rsplit("/", 1)[-1], k.split("/")[0]), []).append(k)
    alarms = [(r["step"], r["health"]) for r in rows if "health" in r]
    from matplotlib.figure import Figure  # imported here: slow to import, and training starts without it

    fig = Figure(figsize=(5 * max(len(panels), 1), 3.6))
    axes = fig.subplots(1, max(len(panels), 1), squeeze=False)
    for ax, (phase, names) in zip(axes[0], panels.items()):
        for name in names:
            points = [(r["step"], math.nan if r[name] is None else r[name]) for r in rows if name in r]  # null: NaN
            term = name.split("/", 1)[-1]
            label = name if phase in OWN_PANELS.values() else term
            ax.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                marker="o" if len(points) == 1 else None,  # a single point draws no line
                label=f"{label}: {MEANING[term]}" if term in MEANING else label,
            )
        for step, symptom in alarms:
            ax.axvline(step, color="red", linestyle="--", linewidth=0.8, label=f"warning: {symptom}")
        ax.set_title(phase)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
