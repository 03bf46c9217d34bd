"""The folder tree shows the flow, and the imports follow it.

glassnet's subpackages form layers, in the order data flows:
errors -> core -> data -> nn -> optim -> io -> train -> check -> interop -> export -> report -> sweep -> cli.
A module may import from its own subpackage and from the ones before it, never
from one after it (``from glassnet import __version__`` is the one exception).
docs/architecture.md explains the order; a new subpackage is added to both.
"""

from __future__ import annotations

import ast
from pathlib import Path

import glassnet
from paths import REPO

ORDER = ["errors", "core", "data", "nn", "optim", "io", "train", "check", "interop", "export", "report", "sweep", "cli"]
PACKAGE = Path(glassnet.__file__).parent
DOCS = REPO / "docs" / "architecture.md"


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "glassnet":
            if node.module == "glassnet" and [a.name for a in node.names] == ["__version__"]:
                continue
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "glassnet":
                    yield node.lineno, alias.name


def test_every_subpackage_has_a_place_in_the_flow():
    subpackages = sorted(
        p.name if p.is_dir() else p.stem
        for p in PACKAGE.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and not p.name.startswith("__"))
    )
    assert [name for name in subpackages if name not in ORDER] == []


def test_no_module_imports_from_a_later_stage():
    backwards = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ("__init__.py", "__main__.py"):
            continue
        stage = ORDER.index(rel.parts[0].removesuffix(".py"))
        for line, module in _imports(path):
            parts = module.split(".")
            if len(parts) < 2 or parts[1] not in ORDER:
                backwards.append(f"{rel}:{line} imports {module} (not a module of a known stage)")
            elif ORDER.index(parts[1]) > stage:
                backwards.append(f"{rel}:{line} imports {module}, a later stage than {rel.parts[0]}")
    assert backwards == []


def test_the_architecture_document_names_every_stage_in_order():
    text = DOCS.read_text(encoding="utf-8")
    positions = [text.find(f"`{name}/`") if name != "errors" else text.find("`errors.py`") for name in ORDER]
    missing = [name for name, at in zip(ORDER, positions, strict=True) if at < 0]
    present = [at for at in positions if at >= 0]
    # stages not built yet (export/, sweep/) may be absent from the tree; those present are in order
    built = {p.name for p in PACKAGE.iterdir() if p.is_dir()} | {"errors"}
    assert [name for name in missing if name in built] == []
    assert present == sorted(present)


#: the test files that cut across the package and so stay at the top of tests/
CROSS_CUTTING = {"test_architecture.py", "test_bad_inputs.py", "test_extending.py", "test_examples.py",
                 "test_benchmark_smoke.py"}


def test_the_tests_mirror_the_package():
    """Each folder of tests/ is named after a subpackage of glassnet; only the cross-cutting tests sit at the
    top; test file names are unique (the folders have no ``__init__.py``, see docs/architecture.md)."""
    tests = REPO / "tests"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))}
    assert folders <= set(ORDER), f"test folders that are no subpackage: {sorted(folders - set(ORDER))}"
    at_top = {p.name for p in tests.glob("test_*.py")}
    assert at_top <= CROSS_CUTTING, (
        f"move these into tests/<subpackage>/ (see docs/architecture.md): {sorted(at_top - CROSS_CUTTING)}")
    names = [p.name for p in tests.rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in set(names) if names.count(n) > 1)
    assert not list(tests.rglob("__init__.py"))
