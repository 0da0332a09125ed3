"""The layering of DESIGN.md, checked on the source by an AST walk:

1. nothing under `dialects/` and nothing under `compiler/` imports from
   `passes/`, except the modules that assemble passes into pipelines
   (`ASSEMBLERS`): the driver reaches the passes only through them; and
   `dialects/` (the IR, the bottom layer) imports only `dialects/`;
2. no module imports another module's private (`_name`) names;
3. no import cycles between the project's modules, counting imports inside
   functions as well as top-level ones.

Each rule is also shown to fail on a small package that breaks it, so that the
check itself cannot silently pass.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("compiler", "dialects", "passes")
ASSEMBLERS = {"compiler.pipelines", "compiler.universe", "compiler.opt"}
"""Modules of `compiler/` that may import passes: they name and assemble them."""


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    names: tuple[str, ...]
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    return {
        module_name(path, root): path
        for package in packages for path in sorted((root / package).rglob("*.py"))
    }


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module an ImportFrom names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """Every import in `path` (top-level or not) of a project module.

    `from package import sub` counts as importing `package.sub` when that is a
    module of the project, else as importing `package` for the names given.
    """
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in {m.split(".")[0] for m in modules}:
                    yield Import(name, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, name, is_package)
            if target.split(".")[0] not in {m.split(".")[0] for m in modules}:
                continue
            plain = []
            for alias in node.names:
                if f"{target}.{alias.name}" in modules:
                    yield Import(name, f"{target}.{alias.name}", (), node.lineno)
                else:
                    plain.append(alias.name)
            if plain:
                yield Import(name, target, tuple(plain), node.lineno)


def all_imports(root: Path, packages: tuple[str, ...]) -> list[Import]:
    modules = project_modules(root, packages)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


def _where(imp: Import) -> str:
    return f"{imp.importer}:{imp.line} imports {imp.imported}"


def pass_imports(imports: list[Import], assemblers: set[str]) -> list[str]:
    """Rule 1: dialects/ or compiler/ (but the assemblers) importing passes/."""
    return [
        _where(imp) for imp in imports
        if imp.importer.split(".")[0] in ("compiler", "dialects")
        and imp.imported.split(".")[0] == "passes" and imp.importer not in assemblers
    ]


def dialect_imports(imports: list[Import]) -> list[str]:
    """Rule 1 again: the IR is the bottom layer, so `dialects/` imports only `dialects/`."""
    return [
        _where(imp) for imp in imports
        if imp.importer.split(".")[0] == "dialects" and imp.imported.split(".")[0] != "dialects"
    ]


def private_imports(imports: list[Import]) -> list[str]:
    """Rule 2: `from other import _name` (a module's own private names are its business)."""
    return [
        f"{_where(imp)}, private {name}" for imp in imports for name in imp.names
        if name.startswith("_") and not name.startswith("__") and imp.imported != imp.importer
    ]


def private_attribute_uses(root: Path, packages: tuple[str, ...]) -> list[str]:
    """Rule 2 again: `module._name` through an imported module object."""
    found = []
    modules = project_modules(root, packages)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                aliases |= {a.asname for a in node.names if a.asname and a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(node, name, path.name == "__init__.py")
                aliases |= {a.asname or a.name for a in node.names if f"{target}.{a.name}" in modules}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                found.append(f"{name}:{node.lineno} uses {node.value.id}.{node.attr}")
    return found


def import_cycles(imports: list[Import]) -> list[list[str]]:
    """Rule 3: strongly connected groups of modules (Tarjan), each a cycle."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.imported != imp.importer:
            graph.setdefault(imp.importer, set()).add(imp.imported)
            graph.setdefault(imp.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


# --------------------------------------------------------------------------- the rules on hwc


def test_compiler_and_dialects_do_not_import_passes():
    assert pass_imports(all_imports(ROOT, PACKAGES), ASSEMBLERS) == []


def test_dialects_import_only_dialects():
    assert dialect_imports(all_imports(ROOT, PACKAGES)) == []


def test_no_module_imports_private_names_of_another():
    imports = all_imports(ROOT, PACKAGES)
    assert private_imports(imports) + private_attribute_uses(ROOT, PACKAGES) == []


def test_no_import_cycles():
    assert import_cycles(all_imports(ROOT, PACKAGES)) == []


# --------------------------------------------------------------------------- the check can fail


def _package(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").touch()
    return root


def test_a_forbidden_pass_import_is_reported(tmp_path):
    root = _package(tmp_path, {
        "passes/quantize.py": "def quantize(): pass\n",
        "compiler/report.py": "def report():\n    from passes.quantize import quantize\n",
        "compiler/pipelines.py": "from passes import quantize\n",
    })
    assert pass_imports(all_imports(root, PACKAGES), ASSEMBLERS) == [
        "compiler.report:2 imports passes.quantize"]


def test_a_dialect_importing_the_compiler_is_reported(tmp_path):
    root = _package(tmp_path, {
        "compiler/numerics.py": "LIMIT = 1\n",
        "dialects/rom.py": "from dialects import nn\nfrom compiler.numerics import LIMIT\n",
        "dialects/nn.py": "",
    })
    assert dialect_imports(all_imports(root, PACKAGES)) == ["dialects.rom:2 imports compiler.numerics"]


def test_a_private_import_is_reported(tmp_path):
    root = _package(tmp_path, {
        "dialects/nn.py": "def _shape(): pass\n",
        "compiler/ir.py": "from dialects.nn import _shape\nfrom dialects import nn\nnn._shape()\n",
    })
    assert private_imports(all_imports(root, PACKAGES)) == [
        "compiler.ir:1 imports dialects.nn, private _shape"]
    assert private_attribute_uses(root, PACKAGES) == ["compiler.ir:3 uses nn._shape"]


def test_a_cycle_through_a_function_local_import_is_reported(tmp_path):
    root = _package(tmp_path, {
        "compiler/a.py": "import compiler.b\n",
        "compiler/b.py": "def f():\n    from compiler import c\n",
        "compiler/c.py": "from compiler.a import x\n",
    })
    assert import_cycles(all_imports(root, PACKAGES)) == [["compiler.a", "compiler.b", "compiler.c"]]
