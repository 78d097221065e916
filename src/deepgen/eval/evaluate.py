"""Evaluate trained models against held-out real data: every number states its features, counts and seed.

The real reference is the test split of the run's data (images the models never trained on). Sample
metrics use `n` generated images (default: as many as the test split holds, at most 10,000) drawn with
`seed`; conditional models draw the same number of each class.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torchmetrics.functional.image import structural_similarity_index_measure

from deepgen.classify.fit import predict
from deepgen.classify.small_cnn import train_classifier
from deepgen.config import DataConfig
from deepgen.data import Splits, load_data
from deepgen.data.imageset import ImageSet, to_float
from deepgen.device import resolve_device
from deepgen.errors import ConfigError
from deepgen.eval.evaluator import ACCURACY, accuracy_label, evaluator_data, get_evaluator
from deepgen.eval.features import ClassifierFeatures, FeatureExtractor, InceptionFeatures
from deepgen.eval.memorisation import audit, audit_metrics, closest_pairs
from deepgen.eval.metrics import (
    Metric,
    density_coverage,
    frechet_distance,
    inception_score,
    kernel_distance,
    kid_subset_size,
    mode_coverage,
    precision_recall,
)
from deepgen.eval.settings import Recipe, Settings
from deepgen.io import update_json
from deepgen.models.base import GenerativeModel
from deepgen.run import RESULTS, data_slug, open_run
from deepgen.sampling import balanced_labels, generate
from deepgen.viz.grids import save_png

MAX_SAMPLES = 10_000
MIN_SAMPLES = 200  # FID and KID from fewer real or generated images come with a bootstrap 95% interval
BOOTSTRAP = 20  # resamples of that interval
LOWER_IS_BETTER = {"neg_elbo"}  # of the metrics models report from evaluate()


class Judge:
    """The held-out real data of one dataset, its evaluator classifier and the chosen feature extractor,
    set up once and used to evaluate any number of models (real features are extracted once)."""

    def __init__(self, data: DataConfig, settings: Settings, log: Callable[[str], None] = print):
        self.settings, self.log = settings, log
        spec = settings.features
        if spec != "inception" and spec.partition(":")[0] != "classifier":
            raise ConfigError(f"--features must be classifier, classifier:DATASET or inception; got {spec!r}")
        n = settings.n
        if n is not None and n < 2:
            raise ConfigError(f"--n must be at least 2, got {n}")
        self.device = resolve_device(settings.device)
        inception = InceptionFeatures(settings.inception_weights).to(self.device) if spec == "inception" else None
        self.splits: Splits = load_data(evaluator_data(data))
        self.classifier = get_evaluator(self.splits, settings.recipe, self.device, log=log)
        self.features = inception or self.classifier_features(data)
        self.real = self.splits.test
        self.train = load_data(data).train if data.limit_per_class else self.splits.train  # what models learn from
        self.n = min(n or len(self.real), MAX_SAMPLES)
        self.real_features = self.features.extract(self.real.images, precision=settings.precision)
        self.cas_baselines: dict[int, float] = {}

    def classifier_features(self, data: DataConfig) -> FeatureExtractor:
        """The evaluator of the run's data, or of another dataset at the same image size and channels."""
        dataset = self.settings.features.partition(":")[2]
        if not dataset or data_slug(dataset) == data_slug(data.data):
            return self.classifier
        other = load_data(evaluator_data(data, dataset))
        return get_evaluator(other, self.settings.recipe, self.device, log=self.log)

    def about(self) -> dict[str, Any]:
        """What the metrics were computed with."""
        return {
            "data": self.splits.name,
            "real": f"test split, {len(self.real)} images{left_out(self.splits)}",
            "features": self.features.description,
            "classifier": self.classifier.description,
            "feature_precision": self.settings.precision,
            "device": str(self.device),
        }

    # --- generated (or real) images -------------------------------------------------------------
    def sample_metrics(self, images: Tensor, labels: Tensor | None = None) -> list[Metric]:
        """Metrics of uint8 images against the real test split (CAS too, when `labels` are given)."""
        shape = tuple(images.shape[1:])
        self.classifier.check(shape, "the generated images")
        if isinstance(self.features, ClassifierFeatures):
            self.features.check(shape, "the generated images")
        s, n_real, n = self.settings, len(self.real), len(images)
        fake = self.features.extract(images, precision=s.precision)
        common = {"features": self.features.name, "n_generated": n, "n_real": n_real, "seed": s.seed}
        kid, kid_std = kernel_distance(self.real_features, fake, s.seed)
        precision, recall = precision_recall(self.real_features, fake, k=3)
        density, coverage = density_coverage(self.real_features, fake, k=5)
        subset = kid_subset_size(n_real, n)
        few = few_images(self.real_features, fake, s.seed)
        metrics = [
            Metric(
                "fid",
                frechet_distance(self.real_features, fake),
                "lower",
                **common,
                note="torchmetrics FID",
                extra=few.get("fid", {}),
            ),
            Metric(
                "kid",
                kid,
                "lower",
                **common,
                std=kid_std,
                note=f"100 subsets of {subset}, cubic kernel",
                extra=few.get("kid", {}),
            ),
            Metric("precision", precision, "higher", **common, note="Kynkäänniemi 2019, k=3"),
            Metric("recall", recall, "higher", **common, note="Kynkäänniemi 2019, k=3"),
            Metric("density", density, "higher", **common, note="Naeem 2020, k=5; ~1 for real data"),
            Metric("coverage", coverage, "higher", **common, note="Naeem 2020, k=5"),
        ]
        logits = self.classifier.logits(images)
        about = {"features": self.classifier.name, "n_generated": n, "seed": s.seed}
        score, score_std = inception_score(logits, s.seed)
        k = len(self.classifier.classes)
        metrics.append(
            Metric("is", score, "higher", **about, std=score_std, note=f"Inception Score analogue, 10 splits; max {k}")
        )
        probs = logits.softmax(1)
        metrics.append(
            Metric(
                "confidence",
                probs.max(1).values.mean().item(),
                "higher",
                **about,
                note=f"mean top-class probability the evaluator gives a sample; 1/{k} for images it cannot tell apart",
            )
        )
        modes = mode_coverage(probs)
        missed = [self.classifier.classes[i] for i in modes["missed_classes"]]
        metrics.append(
            Metric(
                "mode_kl",
                modes["kl_to_uniform"],
                "lower",
                **about,
                note=f"KL(class histogram || uniform), max {modes['max_kl']:.3g}"
                + (f"; COLLAPSED: classes {', '.join(missed)} under a quarter of their share" if missed else ""),
                extra={"histogram": modes["histogram"], "missed_classes": missed, "collapsed": modes["collapsed"]},
            )
        )
        if labels is not None:
            metrics.append(self.cas(images, labels))
        nets = [f for f in (self.features, self.classifier) if isinstance(f, ClassifierFeatures)]
        accuracy = {f.name: f.info["test_accuracy"] for f in nets}
        for m in metrics:  # each score that rests on an evaluator carries its test accuracy
            if m.features in accuracy:
                m.extra[ACCURACY] = accuracy[m.features]
        return metrics

    def cas(self, images: Tensor, labels: Tensor) -> Metric:
        """Classification Accuracy Score (Ravuri & Vinyals 2019): a classifier trained on the labelled
        images, tested on the real test split; beside it, the same recipe trained on as many real images."""
        s = self.settings
        accuracy = classifier_accuracy(ImageSet(images, labels, self.real.classes), self.real, s.cas_steps, s.seed)
        return self.cas_metric(accuracy, len(images))

    def cas_baseline(self, n: int) -> float:
        """Test accuracy of the CAS recipe trained on `n` real training images (computed once per n)."""
        if n not in self.cas_baselines:
            s = self.settings
            self.cas_baselines[n] = classifier_accuracy(self.real_subset(n), self.real, s.cas_steps, s.seed)
        return self.cas_baselines[n]

    def cas_metric(self, accuracy: float, n: int) -> Metric:
        baseline, s = self.cas_baseline(n), self.settings
        return Metric(
            "cas",
            accuracy,
            "higher",
            n_generated=n,
            n_real=len(self.real),
            seed=s.seed,
            note=f"SmallCNN, {s.cas_steps} steps; trained on {n} real training images: {baseline:.4f}",
            extra={"real_data_accuracy": baseline},
        )

    def real_subset(self, n: int) -> ImageSet:
        """`n` images of the real training split, chosen with the seed."""
        train = self.splits.train
        g = torch.Generator().manual_seed(self.settings.seed)
        return train.subset(torch.randperm(len(train), generator=g)[: min(n, len(train))])

    def real_metrics(self, cas: bool = True) -> list[Metric]:
        """The floor: `n` images of the real training split scored as if generated; with `cas`, also the
        accuracy of a classifier trained on them (CAS's ceiling)."""
        real = self.real_subset(self.n)
        metrics = self.sample_metrics(real.images)
        if cas:
            metrics.append(self.cas_metric(self.cas_baseline(len(real)), len(real)))
        return metrics

    def memorisation(self, images: Tensor, figures: Path | None = None) -> list[Metric]:
        """The memorisation audit of uint8 `images` against the training images (deepgen.eval.memorisation)."""
        result = audit(images, self.train.images, self.real.images)
        if figures is not None:
            save_png(closest_pairs(images, self.train.images, result), figures / "memorisation.png")
        return audit_metrics(result, self.settings.seed)

    # --- models --------------------------------------------------------------------------------
    def model_metrics(self, model: GenerativeModel, figures: Path | None = None) -> list[Metric]:
        """Sample metrics and the memorisation audit for models that sample; reconstruction and likelihood
        metrics for models that encode. With `figures`, the audit's closest pairs go to FIGURES/memorisation.png."""
        s, metrics = self.settings, []
        model.eval()
        if model.can_sample:
            k = len(model.classes)
            labels = balanced_labels(k, max(self.n // k, 1)) if model.conditional else None
            n = len(labels) if labels is not None else self.n
            images, per_second = timed_generate(model, n, s.seed, labels, progress=f"sampling ({model.name})")
            metrics.append(
                Metric(
                    "sample_img_per_s",
                    per_second,
                    "higher",
                    n_generated=n,
                    seed=s.seed,
                    note=f"deepgen.sampling.generate on {self.device}, batches of 500, after a warm-up batch",
                )
            )
            metrics += self.sample_metrics(images, labels)
            metrics += self.memorisation(images, figures)
        if model.can_encode:
            metrics += reconstruction_metrics(model, self.real, s.seed, s.iw_samples)
        return metrics


def few_images(real: Tensor, fake: Tensor, seed: int) -> dict[str, dict[str, Any]]:
    """For FID and KID from fewer than MIN_SAMPLES real or generated images: a bootstrap 95% interval (BOOTSTRAP
    resamples of both sets, seeded) and what would make them meaningful; {} with enough images."""
    n_real, n = len(real), len(fake)
    if min(n_real, n) >= MIN_SAMPLES:
        return {}
    g = torch.Generator().manual_seed(seed)
    draws: dict[str, list[float]] = {"fid": [], "kid": []}
    for _ in range(BOOTSTRAP):
        a, b = real[torch.randint(n_real, (n_real,), generator=g)], fake[torch.randint(n, (n,), generator=g)]
        draws["fid"].append(frechet_distance(a, b))
        draws["kid"].append(kernel_distance(a, b, seed, subsets=10)[0])
    need = ", ".join(f"{what} {k}" for what, k in (("real", n_real), ("generated", n)) if k < MIN_SAMPLES)
    few = (
        f"few images: {need}, under the {MIN_SAMPLES} each that make it meaningful (a folder needs about "
        f"{math.ceil(MIN_SAMPLES / 0.2):,} images for {MIN_SAMPLES} test images at --test-fraction 0.2)"
    )
    tails = torch.tensor([0.025, 0.975], dtype=torch.float64)
    intervals = {k: torch.tensor(v, dtype=torch.float64).quantile(tails).tolist() for k, v in draws.items()}
    return {k: {"interval": v, "few": few} for k, v in intervals.items()}


def value_text(m: Metric) -> str:
    """A metric's value as printed: ± its std, and with its bootstrap interval when it rests on few images."""
    text = f"{m.value:.5g}" + (f" ± {m.std:.2g}" if m.std is not None else "")
    if "interval" in m.extra:
        low, high = m.extra["interval"]
        text += f" (95% CI {low:.3g} to {high:.3g}: few images)"
    return text


def left_out(splits: Splits) -> str:
    """', N left out (a copy in the training split)' when --dedupe left test images out, else ''."""
    return f", {splits.left_out} left out (a copy in the training split)" if splits.left_out else ""


def timed_generate(
    model: GenerativeModel, n: int, seed: int, labels: Tensor | None, progress: str | None = None
) -> tuple[Tensor, float]:
    generate(model, min(n, 64), seed, None if labels is None else labels[:64])
    started = time.perf_counter()
    images = generate(model, n, seed, labels, progress=progress)
    return images, n / (time.perf_counter() - started)


def classifier_accuracy(train: ImageSet, test: ImageSet, steps: int, seed: int) -> float:
    """Test accuracy of a SmallCNN trained on `train` for `steps`, as wide as the evaluator of its image size."""
    width = Recipe().sized(len(train), train.shape[1]).width
    cnn = train_classifier(
        train, steps, min(128, len(train)), seed=seed, outlier_weight=0.0, width=width, progress="CAS classifier"
    )
    return (predict(cnn, test.images).argmax(1) == test.labels).float().mean().item()


@torch.no_grad()
def reconstruction_metrics(
    model: GenerativeModel, test: ImageSet, seed: int, iw_samples: int, batch_size: int = 250
) -> list[Metric]:
    """MSE, PSNR and SSIM of test-split reconstructions on the [0, 1] scale, the model's own held-out
    metrics (e.g. the negative ELBO) and, where the model has one, its importance-weighted NLL bound."""
    n = len(test)
    own = model.evaluate(test)
    size = min(test.shape[1:])
    kernel = min(11, size if size % 2 else size - 1)
    ssim = 0.0
    for images in test.images.split(batch_size):
        x = to_float(images.to(model.device))
        pair = ((model.reconstruct(x) + 1) / 2, (x + 1) / 2)
        ssim += float(structural_similarity_index_measure(*pair, data_range=1.0, kernel_size=kernel)) * len(x)
    about = {"n_real": n, "note": "test split, [0, 1] pixel scale"}
    metrics = [
        Metric("recon_mse", own["recon_mse"], "lower", **about),
        Metric("recon_psnr", own["recon_psnr"], "higher", **about),
        Metric("recon_ssim", ssim / n, "higher", n_real=n, note=f"test split, Gaussian window {kernel}, sigma 1.5"),
    ]
    for key, value in own.items():
        if key not in ("recon_mse", "recon_psnr"):
            better = "lower" if key in LOWER_IS_BETTER else ""
            metrics.append(Metric(key, value, better, n_real=n, note="the model's own held-out metric (evaluate)"))
    if model.has_likelihood:
        g = torch.Generator().manual_seed(seed)
        bound = model.importance_weighted_nll
        parts = [bound(to_float(x.to(model.device)), iw_samples, g) for x in test.images.split(100)]
        metrics.append(
            Metric(
                f"iw_nll_k{iw_samples}",
                float(torch.cat(parts).mean()),
                "lower",
                n_real=n,
                seed=seed,
                note=f"nats per image, importance-weighted bound with {iw_samples} samples (Burda 2016)",
            )
        )
    return metrics


# --- runs ------------------------------------------------------------------------------------------
@dataclass
class RunEvaluation:
    run: Path
    checkpoint: Path
    step: int
    metrics: list[Metric]
    about: dict[str, Any]
    path: Path  # metrics.json


def evaluate_run(run: Path, judge: Judge) -> RunEvaluation:
    """Evaluate the newest checkpoint of `run` and merge the results into RUN/metrics.json under "eval"."""
    opened = open_run(run).load(judge.device)
    metrics = judge.model_metrics(opened.model, figures=run)
    about = {"model": opened.model.name, "checkpoint": str(opened.checkpoint), "step": opened.step, **judge.about()}
    path = run / RESULTS
    write_metrics(path, about, metrics)
    return RunEvaluation(run, opened.checkpoint, opened.step, metrics, about, path)


def write_metrics(path: Path, about: dict[str, Any], metrics: list[Metric]) -> None:
    """Merge {"eval": ...} into the JSON object at `path` (keeping what training wrote there, even while it does)."""
    update_json(path, lambda results: results.update(eval={**about, "metrics": {m.key: m.to_dict() for m in metrics}}))


def format_table(metrics: list[Metric]) -> str:
    """A plain-text table: metric, value (± std), features, counts, seed, note."""
    rows = [("metric", "value", "features", "generated", "real", "seed", "note")]
    for m in metrics:
        rows.append(
            (
                m.name,
                value_text(m),
                m.features + (f" ({accuracy_label(m.extra[ACCURACY])})" if ACCURACY in m.extra else "") or "-",
                str(m.n_generated or "-"),
                str(m.n_real or "-"),
                "-" if m.seed is None else str(m.seed),
                m.note,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows)
    few = dict.fromkeys(f"{m.name}: {m.extra['few']}" for m in metrics if "few" in m.extra)
    return "\n".join([table, *few])
