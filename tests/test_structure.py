"""The package's structure, read from its source (ast): no import circle between modules or
between packages, no import from a lower layer up to a higher one, no module over 400 lines and
no function over 60 lines (docstrings aside). Both length rules hold for the Python of `bench/`,
`tests/` and `demo/` too.

Layers, lowest first (README.md, "Layout"): `format/` (the record format) -> `inputs/` (validation
shared by writer and analysis) -> `storage/` (reading) and `writing/` (writing) -> `analysis/` ->
`integrations/`, `serving/` and the top-level modules (`reader.py`, `log.py`, ...). Every import
counts, those inside functions too: a lazy import is still a dependency.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "tb_attention"
BESIDE = ("bench", "tests", "demo")  # held to the module and function length rules as well
TOP = 4
LAYERS = {
    "format": 0,
    "inputs": 1,
    "storage": 2,
    "writing": 2,
    "analysis": 3,
    "capture": TOP,
    "importance": TOP,
    "integrations": TOP,
    "serving": TOP,
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules():
    """{dotted module name: path} of every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imported(node, module):
    """The package modules an import statement names (a `from x import y` names x.y when y is a
    module, else x)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: resolved against the importing module's package
            package = module.split(".")
            package = package[: len(package) - node.level + (1 if MODULES[module].name == "__init__.py" else 0)]
            base = ".".join(package + ([base] if base else []))
        names = [base + "." + alias.name if base + "." + alias.name in MODULES else base for alias in node.names]
    return {name for name in names if name in MODULES}


def _imports():
    """{module: set of package modules it imports}."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found |= _imported(node, module)
        graph[module] = found - {module}
    return graph


def _unit(module):
    """The package a module belongs to (`format`, `storage`, ...); a top-level module is a unit of
    its own (`reader`, `log`, ...)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "tb_attention"


def _layer(unit):
    return LAYERS.get(unit, TOP)


def _cycle(graph):
    """One import circle of `graph` ({node: nodes}) as a list of nodes, or None."""
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_every_package_has_a_layer():
    units = {_unit(m) for m in MODULES if m.count(".") >= 1 and (PACKAGE / m.split(".")[1]).is_dir()}
    assert units <= set(LAYERS), "a new package needs its place in LAYERS: %s" % sorted(units - set(LAYERS))


def test_no_import_circle_between_modules():
    cycle = _cycle(_imports())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_no_import_circle_between_packages():
    graph = {}
    for module, imported in _imports().items():
        for other in imported:
            if _unit(other) != _unit(module):
                graph.setdefault(_unit(module), set()).add(_unit(other))
    cycle = _cycle(graph)
    assert cycle is None, "import circle between packages: " + " -> ".join(cycle)


def test_no_import_from_a_lower_layer_up():
    upward = [
        "%s (layer %d) imports %s (layer %d)" % (module, _layer(_unit(module)), other, _layer(_unit(other)))
        for module, imported in sorted(_imports().items())
        for other in sorted(imported)
        if _layer(_unit(other)) > _layer(_unit(module))
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def _long_modules(paths):
    """{path from the checkout's root: lines} of the files of `paths` over MAX_MODULE_LINES."""
    return {
        str(path.relative_to(PACKAGE.parent)): n
        for path in paths
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }


def _beside_modules():
    """Every Python file of bench/, tests/ and demo/, hidden folders (git-ignored caches) aside;
    each folder has some (a folder moved would otherwise escape the checks unnoticed)."""
    root = PACKAGE.parent
    paths = sorted(
        path
        for folder in BESIDE
        for path in (root / folder).rglob("*.py")
        if not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    assert {path.relative_to(root).parts[0] for path in paths} == set(BESIDE)  # each folder read
    return paths


def test_modules_are_short():
    long = _long_modules(MODULES.values())
    assert not long, "modules over %d lines: %s" % (MAX_MODULE_LINES, long)


def test_bench_tests_and_demo_modules_are_short():
    long = _long_modules(_beside_modules())
    assert not long, "modules over %d lines: %s" % (MAX_MODULE_LINES, long)


def _docstring_lines(node):
    body = getattr(node, "body", None)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        if isinstance(body[0].value.value, str):
            return body[0].end_lineno - body[0].lineno + 1
    return 0


def function_lengths(path):
    """{qualified function name: lines, docstrings aside (its own and its nested functions')}."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    docs = sum(
                        _docstring_lines(n)
                        for n in ast.walk(child)
                        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    )
                    out[name] = child.end_lineno - child.lineno + 1 - docs
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


def _long_functions(paths):
    """{path from the checkout's root:qualified name: lines} of the functions of `paths` over
    MAX_FUNCTION_LINES, docstrings aside."""
    return {
        "%s:%s" % (path.relative_to(PACKAGE.parent), name): n
        for path in paths
        for name, n in function_lengths(path).items()
        if n > MAX_FUNCTION_LINES
    }


@pytest.mark.parametrize("where", ["tb_attention", "bench, tests and demo"])
def test_functions_are_short(where):
    long = _long_functions(MODULES.values() if where == "tb_attention" else _beside_modules())
    assert not long, "functions over %d lines (docstrings aside): %s" % (MAX_FUNCTION_LINES, long)


@pytest.mark.parametrize(
    "source, bad",
    [
        ("def f():\n" + "    x = 1\n" * 61, True),
        ('def f():\n    """' + "doc\n" * 30 + '"""\n' + "    x = 1\n" * 59, False),
    ],
)
def test_the_function_length_check_counts_code_not_docstrings(tmp_path, source, bad):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert (function_lengths(path)["f"] > MAX_FUNCTION_LINES) is bad


def test_the_circle_check_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
