"""The package stays small and layered: no module over 400 lines, no import cycle among its modules."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gsnas"
MODULES = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
           for p in PACKAGE.rglob("*.py")}
LONG = {"gsnas.proxsgd"}  # its docstring says why: the optimizer, its layout and its flat buffers are read together


def imports(name: str) -> set[str]:
    """The package modules ``name`` imports, at the top or inside a function (a cycle either way)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                out |= {m for m in (f"{target}.{alias.name}", target) if m in MODULES}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in MODULES}
    return out - {name}


def test_no_module_is_over_400_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    assert {n: k for n, k in long.items() if k > 400 and n not in LONG} == {}


def test_no_import_cycle():
    graph = {name: imports(name) for name in MODULES}
    state = {}

    def visit(name, path):
        state[name] = "open"
        for dep in graph[name]:
            if dep.startswith(name + "."):
                continue  # a package importing its own modules
            if state.get(dep) == "open":
                pytest.fail("import cycle: " + " -> ".join(path[path.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_the_cycle_check_finds_a_cycle(monkeypatch):
    monkeypatch.setitem(MODULES, "gsnas.a", PACKAGE / "a.py")
    real = imports
    fake = {"gsnas.a": {"gsnas.results"}, "gsnas.results": {"gsnas.a"}}
    monkeypatch.setattr(__import__(__name__), "imports", lambda n: fake.get(n, real(n) if n != "gsnas.a" else set()))
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        test_no_import_cycle()
