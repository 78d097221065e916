"""The package's shape: every module imports on its own, and no two modules import each other, even in a circle.

The import graph holds the imports a module makes when it is read: its top-level statements, including those
under `if TYPE_CHECKING:` (a circle that only type annotations close is still a circle for a reader and a type
checker). Imports inside functions are left out: they are the deliberate lazy ones (the CLI's fast start, and
`registry.models()` importing the model package so that it registers itself)."""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"


def module_names() -> list[str]:
    """Every module of src/deepgen, dotted (packages by their own name)."""
    names = []
    for path in sorted((SRC / "deepgen").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The import statements run when the module is read: at the top level or inside top-level if/try blocks."""
    found, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.If, ast.Try)):
            todo += node.body + node.orelse + getattr(node, "finalbody", [])
            todo += [s for handler in getattr(node, "handlers", []) for s in handler.body]
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the deepgen modules it imports when read (`from a import b` counts as a.b when that is a module)."""
    modules = set(module_names())
    graph: dict[str, set[str]] = {}
    for name in modules:
        is_package = (SRC / name.replace(".", "/") / "__init__.py").is_file()
        path = SRC / (name.replace(".", "/") + ("/__init__.py" if is_package else ".py"))
        package = name if is_package else name.rpartition(".")[0]
        targets = set()
        for node in top_level_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_the_graph_sees_real_imports() -> None:
    graph = import_graph()
    assert "deepgen.training.result" in graph["deepgen.api"]  # under TYPE_CHECKING
    assert "deepgen.training.step" in graph["deepgen.training.trainer"]
    assert "deepgen.data.imageset" in graph["deepgen.images"] and "deepgen.registry" in graph["deepgen.classify.zoo"]
    assert "deepgen.models" not in graph["deepgen.registry"]  # imported inside models(): lazy, not an edge


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each group of modules that import each other (directly or around a circle)."""
    found, graph = [], {k: set(v) for k, v in graph.items()}
    while True:
        try:
            graphlib.TopologicalSorter(graph).prepare()
            return found
        except graphlib.CycleError as e:
            cycle = e.args[1]
            found.append(cycle)
            a, b = cycle[0], cycle[1]
            graph[a].discard(b)  # cut it (graphlib may list it either way round) and look for the next
            graph[b].discard(a)


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_cycles_are_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d"}, "f": {"a"}}
    assert sorted(len(c) for c in cycles(graph)) == [3, 4]


IMPORT_EACH = """
import importlib, os, sys
for name in sys.argv[1:]:
    importlib.import_module(name)  # once, to load the third-party packages in the parent ...
for name in [m for m in sys.modules if m == "deepgen" or m.startswith("deepgen.")]:
    del sys.modules[name]  # ... then forget deepgen's own modules
bad = []
for name in sys.argv[1:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # a child that has imported nothing of deepgen yet
        os.close(r)
        try:
            importlib.import_module(name)
            code = 0
        except BaseException as e:
            os.write(w, f"{type(e).__name__}: {e}".encode())
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r) as f:
        message = f.read()
    if os.waitpid(pid, 0)[1]:
        bad.append(f"import {name}: {message or 'the process died'}")
print("\\n".join(bad))
sys.exit(1 if bad else 0)
"""


def test_every_module_imports_on_its_own() -> None:
    """`import deepgen.augmentation.sources` and the like, each module in a process that has imported nothing of
    deepgen before (forked from one that has loaded the third-party packages), so that no module works only
    because another one happened to be imported first."""
    names = [n for n in module_names() if n != "deepgen.__main__"]
    assert "deepgen.augmentation.sources" in names and "deepgen.training.trainer" in names
    done = subprocess.run([sys.executable, "-c", IMPORT_EACH, *names], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
