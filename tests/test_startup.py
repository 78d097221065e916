"""Listing and help start at once: they import no torch (nor torchvision, scikit-learn, matplotlib), and the model
catalog, read from the source without importing it, names the same models as the registry after importing them,
with the same config classes and sampling options."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import deepgen.commands
from deepgen.registry import catalog, config_class, get_model, models

HEAVY = ("torch", "torchvision", "sklearn", "matplotlib", "scipy", "torchmetrics", "PIL")
LIGHT_COMMANDS = [["--help"], ["models"], ["datasets"], ["train", "--help"]]
PRESET = Path(__file__).parents[1] / "configs" / "dcgan-mnist.yaml"


def imported_by(argv: list[str]) -> tuple[list[str], str]:
    """The heavy packages that running `deepgen ARGV` imports (in a fresh interpreter), and its output."""
    code = (
        "import sys, json, contextlib, io\n"
        "from deepgen.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(json.dumps([[m for m in {HEAVY!r} if m in sys.modules], out.getvalue()]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy, output = json.loads(done.stdout.splitlines()[-1])
    return heavy, output


@pytest.mark.parametrize("argv", LIGHT_COMMANDS, ids=" ".join)
def test_listing_and_help_import_no_heavy_library(argv: list[str]) -> None:
    heavy, output = imported_by(argv)
    assert heavy == []
    assert output.strip()  # it did print its list or help


def every_help() -> list[list[str]]:
    """Every command's --help (and evaluator's sub-commands'), every model's `train MODEL --help` and a preset's."""
    commands = [[m.name, "--help"] for m in pkgutil.iter_modules(deepgen.commands.__path__)]
    models_ = [["train", name, "--help"] for name in catalog()]
    return commands + [["evaluator", "train", "--help"], ["evaluator", "list", "--help"]] + models_ + [
        ["train", "--config", str(PRESET), "--help"]
    ]


def test_every_help_imports_no_heavy_library() -> None:
    """All in one fresh interpreter (fast): after each --help, the heavy packages loaded so far, and its output."""
    code = (
        "import sys, json, contextlib, io\n"
        "from deepgen.cli import main\n"
        "seen = {}\n"
        f"for argv in {every_help()!r}:\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        f"    seen[' '.join(argv)] = [[m for m in {HEAVY!r} if m in sys.modules], out.getvalue()]\n"
        "print(json.dumps(seen))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout.splitlines()[-1])
    assert list(seen) == [" ".join(argv) for argv in every_help()]
    first_heavy = next(((argv, heavy) for argv, (heavy, _) in seen.items() if heavy), None)
    assert first_heavy is None  # else (the first --help that loaded them, the heavy packages)
    for argv, (_, output) in seen.items():
        assert output.startswith("usage: deepgen"), argv
        assert "--help" in output, argv


def test_config_class_is_the_models_config_and_the_catalog_knows_its_sampling_options() -> None:
    for name, entry in catalog().items():
        cls = get_model(name)
        assert config_class(name) is cls.Config
        assert entry.config == f"deepgen.models.configs.{entry.module.rpartition('.')[2]}:{cls.Config.__name__}"
        assert entry.sampling_options == cls.sampling_options


def test_models_lists_every_registered_model_with_its_description() -> None:
    _, output = imported_by(["models"])
    registered = models()  # imports every model module
    assert list(catalog()) == list(registered)
    for name, cls in registered.items():
        assert f"{name:<10} {cls.description}" in output.splitlines()
        assert catalog()[name].module == cls.__module__


def test_get_model_imports_only_the_module_it_needs() -> None:
    code = (
        "import json, sys\n"
        "from deepgen.registry import get_model\n"
        "get_model('vae')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('deepgen.models.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert "deepgen.models.vae" in loaded and "deepgen.models.progan" not in loaded
    assert get_model("vae").name == "vae"


def test_a_model_registered_outside_deepgen_is_listed_and_found(monkeypatch: pytest.MonkeyPatch) -> None:
    from deepgen import registry

    config = type("PluginConfig", (), {})
    plugin = type("Plugin", (), {"description": "a plugin's model", "__module__": "someone.models", "Config": config})
    monkeypatch.setitem(registry._MODELS, "plugin", plugin)
    assert catalog()["plugin"] == registry.ModelEntry("someone.models", "a plugin's model")
    assert get_model("plugin") is plugin
    assert config_class("plugin") is config  # from the model itself: the source was not read
