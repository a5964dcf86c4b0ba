"""The server's shape, read from its imports: the routers (HTTP) above a data plane that knows nothing of HTTP,
and no circle of imports anywhere in the package."""

from __future__ import annotations

import ast
from pathlib import Path

import mlkube_server

PACKAGE = Path(mlkube_server.__file__).parent
# The HTTP side: the app, its middleware and JSON responses, the routers, and the processes that run them.
HTTP_MODULES = ("app", "middleware", "jsonio", "cli", "__main__", "api", "trigger.app", "trigger.cli")
WEB_FRAMEWORKS = ("fastapi", "starlette", "uvicorn")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, top_level_only: bool) -> set[str]:
    """Absolute names this module imports (``top_level_only``: at import time, outside TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    nodes = _top_level(tree.body) if top_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(["mlkube_server", *package[: len(package) - node.level + 1]])
                base = f"{base}.{node.module}" if node.module else base
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names)  # `from . import x`: x is a module
            else:
                names.add(node.module or "")
    return names


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    statements = []
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        statements.append(node)
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for block in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, block, []):
                    statements.extend(_top_level(child.body) if isinstance(child, ast.ExceptHandler) else [child])
    return statements


def _internal(names: set[str], modules: dict[str, Path]) -> set[str]:
    """The package's own modules among ``names`` (``mlkube_server.x.y`` may name a module or a member of one)."""
    found = set()
    for name in names:
        if not name.startswith("mlkube_server"):
            continue
        parts = name.split(".")[1:]
        while parts and ".".join(parts) not in modules:
            parts.pop()
        found.add(".".join(parts))
    return found


def _is_http(name: str) -> bool:
    return any(name == http or name.startswith(f"{http}.") for http in HTTP_MODULES)


def test_the_data_plane_side_imports_no_web_framework() -> None:
    modules = _modules()
    assert "dataplane" in modules and not _is_http("dataplane")
    offenders = {}
    for name, path in modules.items():
        if _is_http(name):
            continue
        imported = _imports(name, path, top_level_only=False)
        web = sorted(i for i in imported if i.split(".")[0] in WEB_FRAMEWORKS)
        http = sorted(m for m in _internal(imported, modules) if _is_http(m))
        if web or http:
            offenders[name] = web + http
    assert not offenders, f"modules below the routers that import HTTP code: {offenders}"


def test_the_routers_predict_only_through_the_data_plane() -> None:
    """Load shedding, row limits and the prediction metrics live in the data plane: a router that called the
    repository itself would skip them."""
    modules = _modules()
    direct = []
    for name, path in modules.items():
        if not name.startswith("api."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "predict" and "repository" in ast.unparse(node.value):
                direct.append(f"{name}: {ast.unparse(node)}")
    assert not direct, f"routers that predict without the data plane: {direct}"


def test_no_circle_of_imports() -> None:
    modules = _modules()
    graph = {
        name: _internal(_imports(name, path, top_level_only=True), modules) - {name} for name, path in modules.items()
    }
    # A package's __init__ importing its submodules is how packages work, not a circle: leave the parent edge out.
    for name, edges in graph.items():
        graph[name] = {edge for edge in edges if not name.startswith(f"{edge}.") and edge != ""}
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for edge in sorted(graph[node]):
            if state.get(edge) == 1:
                cycles.append([*path[path.index(edge) :], edge])
            elif edge not in state:
                visit(edge, [*path, edge])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, f"import cycles: {cycles}"
