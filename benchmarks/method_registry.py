"""The methods a run can name: the suite's own, those installed packages declare under the entry-point
group `clbench.methods`, and a researcher's file given as `--methods path/to/my_method.py`.

Each is a `methods.declare.Method` (a module's `METHOD`). Importing the suite's declarations imports
neither torch nor avalanche; a run imports a method's plugin when it builds it.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
from importlib.metadata import entry_points
from pathlib import Path

from benchmarks.errors import UsageError, first_line
from methods.declare import Method

PACKAGES = ("methods", "baselines")  # where the suite's methods are declared, one module each
ENTRY_POINT_GROUP = "clbench.methods"


@functools.cache
def suite_methods() -> dict[str, Method]:
    """The suite's methods in their declared `order`, then the installed packages' (`clbench.methods`
    entry points), by name."""
    found = {}
    for method in sorted((importlib.import_module(m).METHOD for m in declaring_modules()), key=lambda m: (m.order, m.name)):
        found[method.name] = method
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            method = point.load()
        except Exception as e:  # a broken third-party package must not stop the suite's own methods
            raise UsageError(f"the method {point.name!r} of an installed package ({point.value}) fails to load: {first_line(e)}") from None
        add(found, method, f"entry point {point.value}")
    return found


def declaring_modules() -> list[str]:
    """The modules of PACKAGES that assign `METHOD` at their top level: a new file there is a new method.
    Read, not imported, so that the machinery beside them (plugins, buffers: torch) stays unimported."""
    root = Path(__file__).resolve().parents[1]
    modules = []
    for package in PACKAGES:
        for path in sorted((root / package).glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            if any(isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "METHOD" for t in node.targets)
                   for node in tree.body):
                modules.append(f"{package}.{path.stem}")
    return modules


def add(found: dict[str, Method], method, where: str) -> None:
    if not isinstance(method, Method):
        raise UsageError(f"{where} must give a methods.declare.Method, not {type(method).__name__}")
    if method.name in found:
        raise UsageError(f"{where} declares method {method.name!r}, which the suite already has: give it another name")
    found[method.name] = method


def load_file(path: str) -> Method:
    """The `METHOD` a Python file declares (`--methods path/to/my_method.py`); each file is run once."""
    return _load_file(str(Path(path).resolve()), path)


@functools.cache
def _load_file(absolute: str, path: str) -> Method:
    file = Path(absolute)
    if not file.is_file():
        raise UsageError(f"--methods {path}: no such file")
    spec = importlib.util.spec_from_file_location(f"clbench_user_method_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise UsageError(f"--methods {path}: the file fails to import: {type(e).__name__}: {first_line(e)}") from None
    method = getattr(module, "METHOD", None)
    if method is None:
        raise UsageError(f"--methods {path}: the file declares no METHOD (see docs/adding-a-method.md)")
    add(dict(suite_methods()), method, f"--methods {path}")
    return method


def is_file(name: str) -> bool:
    return name.endswith(".py")


def method(name: str, source: str | None = None) -> Method:
    """The method a run names; `source`: the file that declares it, for a researcher's own method."""
    if source:
        return load_file(source)
    known = suite_methods()
    if name not in known:
        raise UsageError(f"unknown method '{name}': use one of {', '.join(known)}, or a file that declares one (my_method.py)")
    return known[name]


def label_order() -> list[str]:
    """Every run label of the known methods, in the report's order."""
    return [label for m in suite_methods().values() for label in m.all_labels()]


def option_defaults(head: str = "linear") -> dict:
    """Every option of the suite's methods with its default for `head` (a run records only its method's)."""
    return {name: value for m in suite_methods().values() for name, value in m.defaults(head).items()}
