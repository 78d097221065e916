"""Everything `deepgen latent` draws for one run (optionally beside a second run on the same data), and the
numbers it saves in latent.json."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepgen.data import ImageSet, load_data
from deepgen.errors import ConfigError
from deepgen.footprint import check_generation_memory
from deepgen.io import atomic_write_text, to_json
from deepgen.latent import embedding, lattice, prior_fit
from deepgen.latent.codes import decode, encode, prior_draws
from deepgen.latent.figures import image_panels
from deepgen.latent.interpolate import decode_paths, random_walks, strips
from deepgen.latent.options import Options
from deepgen.run import LoadedRun
from deepgen.sampling import generate
from deepgen.viz.grids import grid

FIT_POINTS = 20_000  # training images encoded to fit a prior
PRIOR_DRAWS = 10_000  # draws that give a prior's spread


def analyse(run: LoadedRun, out: Path, opts: Options, other: LoadedRun | None = None) -> dict[str, Any]:
    """Write the figures and latent.json into `out`; returns what latent.json holds."""
    start = time.perf_counter()
    runs = [run] + ([other] if other else [])
    if other and other.config.data != run.config.data:
        raise ConfigError(
            f"--compare-with {other.path} was trained on other data ({other.config.data.data}) than {run.path} "
            f"({run.config.data.data}); compare runs of the same dataset and split"
        )
    lattice_span(run, opts.span)  # fail on a bad option before the slow parts
    for r in runs:  # the lattice and the strips are decoded whole
        check_generation_memory(r.model, opts.grid**2, f"--grid {opts.grid}", "give a smaller --grid")
        strips = f"--pairs {opts.pairs} --steps {opts.steps}"
        check_generation_memory(r.model, opts.pairs * opts.steps, strips, "give fewer --pairs or --steps")
    names = [r.model.name for r in runs]
    if len(set(names)) < len(names):
        names = [r.path.name for r in runs]
    summary: dict[str, Any] = {
        "run": str(run.path),
        "checkpoint": str(run.checkpoint),
        "model": run.model.name,
        "step": run.step,
        "data": run.config.data.data,
        "seed": opts.seed,
    }
    files: dict[str, Path] = {}
    encoders = [(n, r) for n, r in zip(names, runs) if r.model.can_encode]
    test = train = None
    if encoders:
        splits = load_data(run.config.data)
        test, train = subsample(splits.test, opts.max_points, opts.seed), splits.train
        fit_points = min(len(train), FIT_POINTS)
        if opts.components > fit_points:
            raise ConfigError(
                f"--components {opts.components}: the mixture is fitted to the codes of {fit_points} training images "
                f"of {run.config.data.data}; give at most {fit_points}"
            )
        summary["test_points"] = len(test)
        codes = {n: encode(r.model, test.images).numpy() for n, r in encoders}
        embeddings = compare(test, codes, out / "embedding.png", opts.seed)
        files["embedding"] = out / "embedding.png"
        summary["embeddings"] = {
            e.name: {
                "knn_accuracy": r4(e.knn_accuracy),
                "trustworthiness": r4(e.trustworthiness),
                "seconds": r4(e.seconds),
            }
            for e in embeddings
        }
        summary["scores"] = (
            f"{embedding.K}-NN accuracy: mean over 5-fold cross-validation on the {len(test)} test images in each "
            f"2-D embedding; trustworthiness ({embedding.K} neighbours) of 2-D neighbourhoods relative to the pixels"
        )
    summary["lattice"] = manifold(run, test, out / "manifold.png", opts)
    files["manifold"] = out / "manifold.png"
    summary["interpolation"] = interpolations(run, test, out / "interpolations.png", opts)
    files["interpolations"] = out / "interpolations.png"
    summary["walks"] = walks(run, test, out / "walks.png", opts)
    files["walks"] = out / "walks.png"
    if encoders:
        summary["fitted_priors"] = sampling(list(zip(names, runs)), train, test, out / "sampling.png", opts)
        files["sampling"] = out / "sampling.png"
    summary["seconds"] = r4(time.perf_counter() - start)
    summary["files"] = {k: str(v) for k, v in files.items()}
    atomic_write_text(out / "latent.json", to_json(summary, indent=2) + "\n")
    return summary


def r4(x: float) -> float:
    return round(float(x), 4)


def subsample(data: ImageSet, n: int, seed: int) -> ImageSet:
    """At most `n` images, chosen by a seeded permutation (order kept)."""
    if len(data) <= n:
        return data
    return data.subset(torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n].sort().values)


def compare(test: ImageSet, codes: dict[str, np.ndarray], path: Path, seed: int) -> list[embedding.Embedding]:
    pixels = test.images.flatten(1).float().div(255).numpy()
    labels = test.labels.numpy()
    embeddings = embedding.compare(pixels, labels, codes, seed)
    title = f"{len(test)} test images, coloured by class"
    embedding.plot(embeddings, labels, test.classes, path, title)
    return embeddings


def reference_codes(run: LoadedRun, test: ImageSet | None, seed: int) -> torch.Tensor:
    """Codes the data occupies: the encoded test set, or prior draws for models without an encoder."""
    return encode(run.model, test.images) if run.model.can_encode else prior_draws(run.model, PRIOR_DRAWS, seed)


def lattice_span(run: LoadedRun, span: str) -> str:
    """ "data" or "prior": the range of the manifold lattice ("auto": the prior's when the model has one)."""
    model = run.model
    if span == "auto":
        return "prior" if model.can_sample else "data"
    if span == "prior" and not model.can_sample:
        raise ConfigError(f"--span prior: {run.path} is a {model.name}, which has no prior; use --span data")
    if span == "data" and not model.can_encode:
        raise ConfigError(f"--span data: {run.path} is a {model.name}, which cannot encode images; use --span prior")
    return span


def manifold(run: LoadedRun, test: ImageSet | None, path: Path, opts: Options) -> dict[str, Any]:
    model, span = run.model, lattice_span(run, opts.span)
    codes = reference_codes(run, test, opts.seed).numpy()
    prior = prior_draws(model, PRIOR_DRAWS, opts.seed).numpy() if span == "prior" else None
    lat = lattice.lattice(codes, opts.grid, opts.quantiles, prior)
    lattice.plot(lat, grid(decode(model, lat.codes), nrow=opts.grid), path, f"{model.name}: decoded latent lattice")
    return {
        "axes": list(lat.axes),
        "span": lat.span,
        "low": [r4(lat.u[0]), r4(lat.v[-1])],
        "high": [r4(lat.u[-1]), r4(lat.v[0])],
        "size": opts.grid,
        **({"explained_variance": lat.explained_variance} if lat.explained_variance else {}),
    }


def strip_grid(images: torch.Tensor, ends: torch.Tensor | None) -> torch.Tensor:
    """(K, T, C, H, W) strips, framed by the real images at their ends when given, as one grid of K rows."""
    if ends is not None:
        images = torch.cat([ends[:, :1], images, ends[:, 1:]], dim=1)
    return grid(images.flatten(0, 1), nrow=images.shape[1])


def interpolations(run: LoadedRun, test: ImageSet | None, path: Path, opts: Options) -> dict[str, Any]:
    images = None if test is None else test.images
    panels = []
    for mode in ("linear", "spherical"):
        s = strips(run.model, opts.pairs, opts.steps, mode, opts.seed, images)
        panels.append((mode, strip_grid(s.images, s.ends)))
    framed = s.ends is not None
    note = "; first and last columns: the real images" if framed else ""
    image_panels(panels, path, f"{run.model.name}: interpolation between {s.source}{note}", width=4.2)
    return {"between": s.source, "pairs": opts.pairs, "steps": opts.steps}


def walks(run: LoadedRun, test: ImageSet | None, path: Path, opts: Options) -> dict[str, Any]:
    codes = reference_codes(run, test, opts.seed)
    sd = float(codes.std(0).square().mean().sqrt())  # the codes' typical spread per dimension
    start = codes[torch.randperm(len(codes), generator=torch.Generator().manual_seed(opts.seed))[: opts.pairs]]
    paths = random_walks(start, opts.steps, 2 * sd, torch.Generator().manual_seed(opts.seed + 1))
    image = strip_grid(decode_paths(run.model, paths), None)
    source = "encoded test images" if run.model.can_encode else "prior draws"
    title = f"{run.model.name}: walks along random directions through {source}\n±{2 * sd:.2f} (2 sd of the codes)"
    image_panels([("", image)], path, title, width=4.6)
    return {"from": source, "distance": r4(2 * sd), "walks": opts.pairs, "steps": opts.steps}


def sampling(
    runs: list[tuple[str, LoadedRun]], train: ImageSet, test: ImageSet, path: Path, opts: Options
) -> dict[str, Any]:
    """Prior samples of models that have a prior beside samples of Gaussians fitted to encoders' training codes."""
    panels, fitted = [], {}
    fit_set = subsample(train, FIT_POINTS, opts.seed)
    for name, r in runs:
        model = r.model
        if model.can_sample:
            panels.append((f"{name}: prior", grid(generate(model, opts.samples, opts.seed))))
        if not model.can_encode:
            continue
        codes, held_out = encode(model, fit_set.images).numpy(), encode(model, test.images).numpy()
        if not model.can_sample:
            naive = torch.randn(opts.samples, codes.shape[1], generator=torch.Generator().manual_seed(opts.seed))
            panels.append((f"{name}: N(0, I), no prior", grid(decode(model, naive))))
        fitted[name] = {}
        for kind, k in (("Gaussian", 1), (f"GMM ({opts.components})", opts.components)):
            mixture = prior_fit.fit(codes, k, opts.seed)
            panels.append(
                (f"{name}: fitted {kind}", grid(decode(model, prior_fit.draw(mixture, opts.samples, opts.seed))))
            )
            fitted[name][kind] = {"test_loglik_per_code": r4(mixture.score(held_out))}
    title = f"samples; Gaussians fitted to the codes of {len(fit_set)} training images"
    image_panels(panels, path, title, width=3.0)
    return {"fit_points": len(fit_set), **fitted}
