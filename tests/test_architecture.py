"""The layout holds: one direction of flow and no import cycles, read from swsim's own imports.

docs/architecture.md draws the flow: machine -> suspend -> image -> resume -> runs -> cli, on
top of the kernel's numbers and the shared errors and progress hook. A module may import from
its own stage or an earlier one, never a later one, and no chain of imports leads back to where
it started. The imports are read from the source (``ast``), every ``import`` statement counted,
those inside functions and ``TYPE_CHECKING`` blocks too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "swsim"

#: The stages, in flow order: a module may import from its stage and the ones before it.
STAGES = (
    ("swsim.errors", "swsim.progress"),
    ("swsim.kernel",),
    ("swsim.machine",),
    ("swsim.suspend",),
    ("swsim.image",),
    ("swsim.resume",),
    ("swsim.runs",),
    ("swsim.cli", "swsim.__main__"),
)
#: The public API re-exports from every stage (lazily); it is no stage of its own.
FACADE = "swsim"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def resolve(name: str) -> str:
    """The module an imported name lives in: the longest prefix that is one of swsim's."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str) -> set[str]:
    """The swsim modules ``module`` imports, anywhere in its code."""
    tree = ast.parse(MODULES[module].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "swsim" or name.startswith("swsim."):
                target = resolve(name)
                if target != module:
                    found.add(target)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def stage_of(module: str) -> int:
    for index, prefixes in enumerate(STAGES):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} belongs to no stage: add it to STAGES")


def test_the_graph_is_read_from_real_imports() -> None:
    """The reader sees what is there (so the checks below can fail)."""
    assert "swsim.resume.strategies.base" in GRAPH["swsim.resume.strategies.bitmap"]
    assert "swsim.image.source" in GRAPH["swsim.resume.restore"]
    assert len(MODULES) > 40


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != FACADE))
def test_no_module_imports_from_a_later_stage(module: str) -> None:
    mine = stage_of(module)
    later = sorted(
        target for target in GRAPH[module] if target != FACADE and stage_of(target) > mine
    )
    assert later == [], f"{module} (stage {mine}) imports from later stages: {later}"


def test_no_import_cycle() -> None:
    """Depth-first search for a back edge; the facade (``swsim``) imports lazily and is left out,
    as is the implicit import of a package by its submodules."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if target == FACADE:
                continue
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module != FACADE and module not in state:
            visit(module)


def test_the_resume_side_never_sees_a_format_s_header() -> None:
    """The seam: resume/ and the strategies read images only through ImageSource/ImageInfo."""
    format_modules = {"swsim.image.header", "swsim.image.reader", "swsim.image.format"}
    for module in MODULES:
        if module.startswith(("swsim.resume", "swsim.runs")):
            assert not GRAPH[module] & format_modules, (module, GRAPH[module] & format_modules)


def undocumented(module: str) -> list[str]:
    """The public classes and functions of ``module`` (and the module) without a docstring."""
    tree = ast.parse(MODULES[module].read_text())
    missing = [] if ast.get_docstring(tree) or module == "swsim.__main__" else [module]

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if child.name.startswith("_"):
                    continue
                if not ast.get_docstring(child):
                    missing.append(f"{module}.{prefix}{child.name}")
                if isinstance(child, ast.ClassDef):
                    walk(child, f"{prefix}{child.name}.")

    walk(tree, "")
    return missing


def test_every_public_module_class_and_function_has_a_docstring() -> None:
    missing = [name for module in sorted(MODULES) for name in undocumented(module)]
    assert missing == []


def defined_names(module: str) -> set[str]:
    """The names ``module`` defines at its top level (not those it imports)."""
    tree = ast.parse(MODULES[module].read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_each_name_is_imported_from_the_module_that_defines_it() -> None:
    """No re-exports inside swsim: ``from swsim.x import name`` finds ``name`` defined in x
    (or x.name is a module). The public facade ``swsim`` re-exports on purpose."""
    wrong = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            if node.module not in MODULES or node.module == FACADE and module != FACADE:
                continue
            for alias in node.names:
                name = alias.name
                if f"{node.module}.{name}" in MODULES or name in defined_names(node.module):
                    continue
                wrong.append(f"{module}: from {node.module} import {name}")
    assert wrong == []
