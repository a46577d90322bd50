"""No import runs back up a layer: each package module imports only its own layer and the ones below.

From the bottom: errors and metrics; the models; the data; the methods; the baselines; what names
methods and settings (the method registry, settings, the typed request, protocols, probing, the results
contract); the reports; the engine; the command lines. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = [
    ("benchmarks.errors", "benchmarks.metrics", "benchmarks.atomic"),
    ("benchmarks.models",),
    ("benchmarks.data",),
    ("methods",),
    ("baselines",),
    ("benchmarks.method_registry", "benchmarks.settings", "benchmarks.request", "benchmarks.protocol", "benchmarks.probing",
     "benchmarks.results"),
    ("reports",),
    ("benchmarks.engine",),
    ("benchmarks.cli", "benchmarks.cli_reference", "benchmarks.speed", "benchmarks.kernels", "run_benchmark"),
]


def layer(module: str) -> int | None:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def modules():
    for path in [ROOT / "run_benchmark.py", *(p for top in ("benchmarks", "methods", "baselines", "reports")
                                             for p in (ROOT / top).rglob("*.py"))]:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        yield name, path


def imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_every_module_has_a_layer():
    assert [name for name, _ in modules() if layer(name) is None] == ["benchmarks"]  # the package itself


def test_no_import_runs_back_up_a_layer():
    upward = [
        f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
        for name, path in modules()
        for target in imports(path)
        if layer(target) is not None and layer(name) is not None and layer(target) > layer(name)
    ]
    assert upward == []


def test_the_check_sees_an_upward_import(tmp_path):
    """The check itself can fail: a methods module importing the engine is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from benchmarks.engine.run import run\n")
    assert [t for t in imports(bad) if layer(t) > layer("methods.bad")] == ["benchmarks.engine.run"]
