"""The package's structure, read from its source (issue 19): no module reaches into another
module's underscore names, the imports run one way (no circle), and the command line imports no
computing machinery. Each failure lists every offence as file:line."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "tflkit"

# ---------------------------------------------------------------- reading the package


def module_name(path: Path, root: Path) -> str:
    """tflkit/targets/__init__.py -> tflkit.targets; tflkit/cli/_run.py -> tflkit.cli._run."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(root: Path = PACKAGE) -> dict[str, Path]:
    return {
        module_name(p, root): p for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node but the bodies of ``if TYPE_CHECKING:`` (imports for type hints only)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def _package_of(path: Path, root: Path) -> str:
    me = module_name(path, root)
    return me if path.name == "__init__.py" else me.rpartition(".")[0]


def _from_base(node: ast.ImportFrom, package: str) -> str:
    """The module a ``from X import ...`` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


@dataclass(frozen=True)
class Import:
    module: str  # the package's module imported
    name: str  # what was taken from it (the module's own last part for `import a.b`)
    line: int


def imports_of(path: Path, root: Path, modules: set[str]) -> list[Import]:
    """The package-internal imports that run in one file: module level and inside functions,
    ``from a import b`` as module ``a.b`` when that is a module, and, in a file that calls
    ``import_module``, every string constant that names a module (a table of module names such
    as ``targets.MODULES`` or ``tflkit._LAZY``, looked up at run time). ``if TYPE_CHECKING:``
    blocks do not count. The same rules as ../shared/tools/import_circles.py."""
    me = module_name(path, root)
    package = _package_of(path, root)
    nodes = list(runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))))
    found: list[Import] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [
                Import(a.name, a.name.rpartition(".")[2], node.lineno)
                for a in node.names
                if a.name in modules
            ]
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, package)
            for a in node.names:
                sub = f"{base}.{a.name}"
                target = sub if sub in modules else base
                if target in modules:
                    found.append(Import(target, a.name, node.lineno))
    calls_import_module = any(
        isinstance(n, ast.Call)
        and (
            getattr(n.func, "attr", None) == "import_module"
            or getattr(n.func, "id", None) == "import_module"
        )
        for n in nodes
    )
    if calls_import_module:
        for n in nodes:
            if isinstance(n, ast.Constant) and isinstance(n.value, str):
                name = package + n.value if n.value.startswith(".") else n.value
                if name in modules:
                    found.append(Import(name, "import_module", n.lineno))
    return [i for i in found if i.module != me]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def import_circles(root: Path = PACKAGE) -> list[str]:
    """One line per circle and one per arrow inside it, with what ties the two modules.

    A package ``__init__`` is a module like any other (it imports what it imports); only the
    root package's, the facade that re-exports the public API, is left out, as arrows through
    it are not the design's."""
    files = package_modules(root)
    names = set(files)
    edges: dict[str, dict[str, list[Import]]] = {}
    for m, path in files.items():
        if m == root.name:
            continue
        for i in imports_of(path, root, names):
            if i.module != root.name:
                edges.setdefault(m, {}).setdefault(i.module, []).append(i)
    lines = []
    for comp in circles({m: set(e) for m, e in edges.items()}):
        lines.append("circle: " + ", ".join(comp))
        for a in comp:
            for b in comp:
                for i in edges.get(a, {}).get(b, []):
                    rel = files[a].relative_to(root.parent)
                    lines.append(f"  {rel}:{i.line}: {a} -> {b} ({i.name})")
    return lines


# ---------------------------------------------------------------- a: no reach into private names


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name != "_"


def defined_private_names(path: Path) -> set[str]:
    """The underscore names a module defines: at its top level (functions, classes,
    constants), in its classes (methods, class attributes, dataclass fields) and on ``self``
    in their methods."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()

    def targets(node: ast.AST) -> list[ast.expr]:
        if isinstance(node, ast.Assign):
            return node.targets
        if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            return [node.target]
        return []

    def scope(body: list[ast.stmt]) -> None:  # a module's or a class's own statements
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
                for n in ast.walk(node):
                    for t in targets(n):
                        if (
                            isinstance(t, ast.Attribute)
                            and isinstance(t.value, ast.Name)
                            and t.value.id in ("self", "cls")
                        ):
                            names.add(t.attr)
            elif isinstance(node, ast.ClassDef):
                names.add(node.name)
                scope(node.body)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                scope([s for s in ast.iter_child_nodes(node) if isinstance(s, ast.stmt)])
            for t in targets(node):
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        names.add(n.id)

    scope(tree.body)
    return {n for n in names if _private(n)}


@dataclass(frozen=True)
class Reach:
    file: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.what}"


def _module_named(expr: ast.expr, bound: dict[str, str], modules: set[str]) -> str | None:
    """The package's module an expression names (``m``, ``tflkit.x``), or None."""
    if isinstance(expr, ast.Name):
        return bound.get(expr.id)
    if isinstance(expr, ast.Attribute):
        head = _module_named(expr.value, bound, modules)
        if head is not None and f"{head}.{expr.attr}" in modules:
            return f"{head}.{expr.attr}"
    return None


def private_reaches(root: Path = PACKAGE) -> list[Reach]:
    """Every place a module takes another module's underscore name:
    ``from tflkit.x import _y``, ``x._y`` or ``tflkit.x._y`` on a module, and ``obj._y`` where
    ``_y`` is defined in another module of the package and not in this one (an attribute such
    as ``Model._source`` read from outside model.py). A private submodule is not a name:
    ``from tflkit import _files`` and ``tflkit.targets._base`` are fine."""
    files = package_modules(root)
    modules = set(files)
    defined = {m: defined_private_names(p) for m, p in files.items()}
    found: list[Reach] = []
    for me, path in files.items():
        rel = str(path.relative_to(root.parent))
        package = _package_of(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        bound: dict[str, str] = {}  # local name -> the package's module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname and a.name in modules:
                        bound[a.asname] = a.name
                    elif not a.asname and a.name.split(".")[0] in modules:
                        bound[a.name.split(".")[0]] = a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                base = _from_base(node, package)
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    if sub in modules:
                        bound[a.asname or a.name] = sub
                    elif _private(a.name) and base in modules and base != me:
                        found.append(Reach(rel, node.lineno, f"from {base} import {a.name}"))

        elsewhere = set().union(*(names for m, names in defined.items() if m != me))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            owner = _module_named(node.value, bound, modules)
            if owner is not None:
                if owner != me and f"{owner}.{node.attr}" not in modules:
                    found.append(Reach(rel, node.lineno, f"{owner}.{node.attr}"))
            elif node.attr in elsewhere and node.attr not in defined[me]:
                where = sorted(m for m, names in defined.items() if node.attr in names)
                found.append(
                    Reach(rel, node.lineno, f"{ast.unparse(node)} (defined in {', '.join(where)})")
                )
    return sorted(set(found), key=lambda r: (r.file, r.line, r.what))


# Reaches allowed on purpose: {(file, what as listed): reason}. Empty until a case is argued.
ALLOWED_REACHES: dict[tuple[str, str], str] = {
    # loader.py builds every Model: it alone puts the file's bytes behind a Model and reads
    # them back (the runtime's source, a constant's values); nothing after Model sees them.
    (
        "tflkit/loader.py",
        "model._source (defined in tflkit.model, tflkit.runner)",
    ): "load() builds Model and hands its bytes to the runtime (interpreter_source)",
    (
        "tflkit/loader.py",
        "t._data_offset (defined in tflkit.model)",
    ): "load() placed the constant's data; it reads it back through its own reader",
}


def test_no_module_takes_another_modules_underscore_names() -> None:
    found = [r for r in private_reaches() if (r.file, r.what) not in ALLOWED_REACHES]
    assert not found, "underscore names taken from another module:\n" + "\n".join(map(str, found))


def test_every_allowed_reach_says_why_and_still_exists() -> None:
    listed = {(r.file, r.what) for r in private_reaches()}
    for key, reason in ALLOWED_REACHES.items():
        assert reason.strip(), key
        assert key in listed, f"{key}: no longer in the code; drop it from ALLOWED_REACHES"


# ---------------------------------------------------------------- b: imports run one way


def test_imports_run_one_way() -> None:
    lines = import_circles()
    assert not lines, "import circles:\n" + "\n".join(lines)


# ---------------------------------------------------------------- c: the CLI computes nothing

# Private modules the command line may import: reading the user's files and drawing results
# are its job (parse, call, render). Everything else private (the shard loop, tallies, the
# runtime, the flatbuffer reader, TensorFlow, Ray's internals) it reaches through the public
# functions a Python user calls.
CLI_MAY_IMPORT = {
    "tflkit._files": "reads and writes the paths the user names",
    "tflkit._inputs": "reads the .npy / .npz arrays the user names",
    "tflkit._plot": "draws a Comparison (rendering)",
    "tflkit._diff_render": "draws a ModelDiff (rendering)",
    "tflkit._quiet": "keeps TensorFlow's output off the terminal, shows it on --verbose",
}


def _cli_may_import(module: str) -> bool:
    if module in CLI_MAY_IMPORT or module.startswith(("tflkit.cli.", "tflkit.render.")):
        return True
    return not any(_private(part) for part in module.split("."))


def test_the_cli_imports_no_private_machinery() -> None:
    files = package_modules()
    names = set(files)
    found = [
        f"{path.relative_to(ROOT)}:{i.line}: {i.module} ({i.name})"
        for m, path in files.items()
        if m == "tflkit.cli" or m.startswith("tflkit.cli.")
        for i in sorted(imports_of(path, PACKAGE, names), key=lambda i: (i.line, i.name))
        if not _cli_may_import(i.module)
    ]
    assert not found, "the command line imports private machinery:\n" + "\n".join(found)


# ---------------------------------------------------------------- the checks themselves


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_a_lazy_import_or_an_import_module_table_closes_a_circle(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "a.py": "def f():\n    from pkg import b\n",
            "b.py": "from pkg.c import X\n",
            "c.py": "import importlib\nT = {'a': 'pkg.a'}\nX = importlib.import_module(T['a'])\n",
            "sub/__init__.py": "from pkg.sub import d\n",
            "sub/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import sub\n",
            "e.py": "from pkg import f\n",
            "f.py": "import pkg\n",  # the root's facade does not count
        },
    )
    assert import_circles(root) == [
        "circle: pkg.a, pkg.b, pkg.c",
        "  pkg/a.py:2: pkg.a -> pkg.b (b)",
        "  pkg/b.py:1: pkg.b -> pkg.c (X)",
        "  pkg/c.py:2: pkg.c -> pkg.a (import_module)",
    ]


def test_private_reaches_are_found_and_private_modules_are_not(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "x.py": "_LIMIT = 3\n\ndef _helper():\n    pass\n\nclass M:\n    _source = b''\n",
            "_files.py": "def read():\n    pass\n",
            "y.py": (
                "from pkg.x import _helper\n"
                "from pkg import _files, x\n"
                "import pkg.x as m\n"
                "import pkg.x\n"
                "def g(model):\n"
                "    _files.read()\n"
                "    return m._LIMIT, x._helper, pkg.x._LIMIT, model._source, model._replace\n"
            ),
            "z.py": "class Own:\n    def __init__(self):\n        self._source = 1\n"
            "    def f(self, other):\n        return other._source\n",
        },
    )
    assert [str(r) for r in private_reaches(root)] == [
        "pkg/y.py:1: from pkg.x import _helper",
        "pkg/y.py:7: model._source (defined in pkg.x, pkg.z)",
        "pkg/y.py:7: pkg.x._LIMIT",  # m._LIMIT and pkg.x._LIMIT: one line, one offence
        "pkg/y.py:7: pkg.x._helper",
    ]
