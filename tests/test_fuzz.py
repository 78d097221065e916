"""Damaged files (random bytes, flipped bytes, truncations) reach the loaders: only deepgen's named errors come out."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import random
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import deepgen
from conftest import tiny_config
from deepgen.config import DataConfig
from deepgen.data import load_data
from deepgen.errors import DeepgenError
from deepgen.run import STATE, WEIGHTS, checkpoints
from deepgen.training.trainer import train
from deepgen.weights import build_model, load_state, read_weights

CASES = 40  # damaged versions of each file, per kind of damage
SRC = Path(deepgen.__file__).parents[1]  # the deepgen under test, for child processes
MNIST10K = Path(__file__).parents[1] / "src" / "deepgen" / "data" / "mnist10k"


def damaged(data: bytes, rng: random.Random) -> list[bytes]:
    """Versions of `data`: bytes flipped, cut short, overwritten by random bytes, and wholly random."""
    out = []
    for _ in range(CASES):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            flipped[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        start = rng.randrange(len(data))
        smeared = bytearray(data)
        smeared[start : start + 64] = rng.randbytes(min(64, len(data) - start))
        out += [bytes(flipped), data[: rng.randrange(len(data))], bytes(smeared)]
    return out + [rng.randbytes(rng.randint(0, 2000)) for _ in range(CASES)]


def outcome(load: Callable[[], object]) -> str:
    """'ok', or the name of the deepgen error `load` raised (anything else fails the test)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load()
    except DeepgenError as e:
        return type(e).__name__
    return "ok"


def fuzz(path: Path, load: Callable[[], object], seed: int) -> dict[str, int]:
    """Replace `path` by each damaged version of it in turn and load; count the outcomes."""
    original, counts = path.read_bytes(), {}
    for data in damaged(original, random.Random(seed)):
        path.write_bytes(data)
        result = outcome(load)
        counts[result] = counts.get(result, 0) + 1
    path.write_bytes(original)
    assert outcome(load) == "ok"
    return counts


def small_idx(n: int = 20) -> tuple[bytes, bytes]:
    """The first `n` shipped MNIST digits and labels as IDX files."""
    images = gzip.decompress((MNIST10K / "t10k-images-idx3-ubyte.gz").read_bytes())
    labels = gzip.decompress((MNIST10K / "t10k-labels-idx1-ubyte.gz").read_bytes())
    count = n.to_bytes(4, "big")
    return images[:4] + count + images[8:16] + images[16 : 16 + n * 784], labels[:4] + count + labels[8 : 8 + n]


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"])
@pytest.mark.parametrize("compressed", [False, True])
def test_damaged_idx_files(tmp_path: Path, name: str, compressed: bool) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images, labels = small_idx()
    for prefix in ("train", "t10k"):
        for suffix, data in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            target = raw / f"{prefix}-{suffix}"
            if compressed:
                target.with_name(target.name + ".gz").write_bytes(gzip.compress(data))
            else:
                target.write_bytes(data)
    cfg = DataConfig(data="mnist", data_root=str(tmp_path))
    counts = fuzz(raw / (name + (".gz" if compressed else "")), lambda: load_data(cfg), seed=len(name) + compressed)
    assert counts.get("DataError", 0) > CASES  # most damage is found (a flipped pixel or label may not be)


@pytest.mark.parametrize("name", ["data_batch_1", "batches.meta"])
def test_damaged_cifar_pickles(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for batch in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = {"batch_label": batch, "data": rng.integers(0, 256, (3, 3072), dtype=np.uint8), "labels": [0, 5, 9]}
        (folder / batch).write_bytes(pickle.dumps(data, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}, protocol=2))
    cfg = DataConfig(data="cifar10", data_root=str(tmp_path))
    counts = fuzz(folder / name, lambda: load_data(cfg), seed=len(name))
    assert counts.get("DataError", 0) > CASES


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_damaged_images_in_a_folder(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.{fmt.lower()}", format=fmt)
    cfg = DataConfig(data=f"folder:{root}", image_size=8, test_fraction=0.34)
    counts = fuzz(root / "a" / f"0.{fmt.lower()}", lambda: load_data(cfg), seed=len(fmt))
    assert set(counts) <= {"ok", "DataError"}  # a damaged image is skipped with a warning, or the split fails


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = train(tiny_config("vae", tmp_path_factory.mktemp("fuzz") / "run", steps=2, checkpoint_every=2)).run
    return checkpoints(run)[-1]


def test_damaged_weights(checkpoint: Path, tmp_path: Path) -> None:
    path = tmp_path / WEIGHTS
    path.write_bytes((checkpoint / WEIGHTS).read_bytes())
    counts = fuzz(path, lambda: build_model(path, torch.device("cpu")), seed=1)
    assert counts.get("CheckpointError", 0) >= 4 * CASES - 2  # the digest finds nearly every change


def test_damaged_training_state(checkpoint: Path, tmp_path: Path) -> None:
    path = tmp_path / STATE
    path.write_bytes((checkpoint / STATE).read_bytes())
    sha = read_weights(checkpoint / WEIGHTS)[1]["state_sha256"]
    assert fuzz(path, lambda: load_state(path, sha), seed=2) == {"CheckpointError": 4 * CASES}
    fuzz(path, lambda: load_state(path), seed=3)  # without the digest, torch.load's own errors are named too


def test_damage_is_not_only_truncation() -> None:
    data = bytes(range(256)) * 4
    versions = damaged(data, random.Random(0))
    assert len(versions) == 4 * CASES and len(set(versions)) > 3 * CASES
    assert any(len(v) == len(data) and v != data for v in versions)


# --- hostile metadata: what a shared checkpoint may ask for ------------------------------------------------------
METADATA_CASES = 80  # crafted metadata per run of the test
METADATA_SECONDS = 15  # at most, after the imports
MEMORY_BOUND = 256 << 20  # bytes of address space (and of resident memory) the loads may add, all cases together
HOSTILE_NUMBERS = [-1, 0, 1, 3, 4, 1024, 1025, 40000, 2**20, 2**31, 2**40, 2**63, 2**70, 2.5, "8", None]
CHILD = r"""
import json, os, random, resource, sys, time
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from deepgen.errors import DeepgenError
from deepgen.weights import build_model, digest

files, seed, cases, seconds, bound, numbers = json.loads(sys.argv[1])
originals = []
for path in files:
    with safe_open(path, framework="pt") as f:
        originals.append(({k: f.get_tensor(k) for k in f.keys()}, json.loads(f.metadata()["deepgen"])))
    build_model(path, torch.device("cpu"))  # the honest file loads (and warms every lazy import up)

def mutate(meta, rng):
    meta = json.loads(json.dumps(meta))
    for _ in range(rng.randint(1, 3)):
        what = rng.choice(["shape", "shape", "config", "config", "config", "classes", "step", "model"])
        if what == "shape":
            meta["shape"] = [rng.choice([1, 3] + numbers) for _ in range(rng.choice([3, 3, 3, 2, 4]))]
        elif what == "config":
            keys = [k for k, v in meta["model_config"].items() if not isinstance(v, (bool, str))] or ["width"]
            key = rng.choice(keys)
            value = meta["model_config"].get(key)
            big = rng.choice(numbers)
            meta["model_config"][key] = [big] * rng.randint(1, 5) if isinstance(value, list) else big
        elif what == "classes":
            meta["classes"] = [f"c{i}" for i in range(rng.choice([0, 1, 3, 1000, 100000]))]
        elif what == "step":
            meta["step"] = rng.choice(numbers)
        else:
            meta["model"] = rng.choice(["vae", "gan", "dcgan", "diffusion", "progan", "nope"])
    return meta

vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
hard = resource.getrlimit(resource.RLIMIT_AS)[1]
resource.setrlimit(resource.RLIMIT_AS, (vm + bound if hard == resource.RLIM_INFINITY else min(vm + bound, hard), hard))
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
rng, counts, bad, started = random.Random(seed), {}, [], time.monotonic()
for case in range(cases):
    if time.monotonic() - started > seconds:
        break
    i = rng.randrange(len(files))
    tensors, meta = originals[i]
    meta = mutate(meta, rng)
    meta["sha256"] = digest(tensors, meta)  # the digest is unkeyed: a hostile sharer recomputes it
    path = files[i] + ".crafted"
    save_file(tensors, path, metadata={"deepgen": json.dumps(meta)})
    try:
        build_model(path, torch.device("cpu"))
        outcome = "ok"
    except DeepgenError as e:
        outcome = type(e).__name__
        if "alloc" in str(e) or "memory" in str(e):
            bad.append(f"{outcome} after an allocation failed: {str(e)[:300]}")
    except BaseException as e:
        outcome = "crash"
        bad.append(f"{type(e).__name__}: {str(e)[:300]} for {json.dumps(meta)[:300]}")
    counts[outcome] = counts.get(outcome, 0) + 1
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss
print(json.dumps({"counts": counts, "bad": bad, "grown": grown, "cases": case + 1}))
"""


def test_crafted_metadata_never_allocates_beyond_a_bound(tmp_path: Path) -> None:
    """Checkpoints whose metadata (digest recomputed) asks for huge images, widths, class lists or other models
    load or are refused with a CheckpointError, never by running out of memory: under an address-space limit of
    MEMORY_BOUND above what the imports took, no allocation fails, and resident memory grows less than that."""
    files = []
    for model in ("vae", "gan", "dcgan", "diffusion"):
        run = train(tiny_config(model, tmp_path / model, steps=1, checkpoint_every=1)).run
        files.append(str(checkpoints(run)[-1] / WEIGHTS))
    args = json.dumps([files, 28, METADATA_CASES, METADATA_SECONDS, MEMORY_BOUND, HOSTILE_NUMBERS])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", CHILD, args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["bad"] == [], report["bad"]
    assert report["grown"] < MEMORY_BOUND and report["cases"] >= 10, report
    assert report["counts"].get("CheckpointError", 0) > report["cases"] // 2, report  # most asks are refused
