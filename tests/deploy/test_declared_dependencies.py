"""Every third-party module the code and the tests import comes from a declared dependency (or one of
theirs), so a fresh `make test` installs it. (A module present only in a developer's venv once broke CI.)"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# Our packages (the app, its tests, migrations, scripts, the Python SDK of sdk/python), and the scripts'
# sibling modules (scripts/bench/composite.py imports trim.py).
LOCAL = {"videoapi", "tests", "migrations", "scripts", "videoapi_client"} | {
    p.stem for p in ROOT.glob("scripts/**/*.py")
}


def _closure(requirements: list[str]) -> set[str]:
    """Distributions that installing `requirements` brings in, extras and environment markers honoured."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        names.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for raw in requires:
            sub = Requirement(raw)
            wanted = sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ("", *req.extras))
            if wanted:
                todo.append(sub)
    return names


def _optional(tree: ast.AST) -> set[ast.AST]:
    """Imports inside `try: ... except ImportError`: the code runs without them (an optional extra)."""
    guarded: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(_catches_import_error(h.type) for h in node.handlers):
            guarded |= {n for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Import | ast.ImportFrom)}
    return guarded


def _catches_import_error(kind: ast.expr | None) -> bool:
    names = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    optional = _optional(tree)
    for node in ast.walk(tree):
        if node in optional:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_every_import_is_installed_by_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]
    installable = _closure(requirements)
    providers = metadata.packages_distributions()
    files = [*ROOT.glob("src/**/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("scripts/**/*.py")]
    missing = {}
    for path in files:
        for module in _imports(path) - LOCAL - set(sys.stdlib_module_names):
            dists = {canonicalize_name(d) for d in providers.get(module, [])}
            if not dists & installable:
                missing.setdefault(module, str(path.relative_to(ROOT)))
    assert not missing, f"imported but not installed by any declared dependency: {missing}"
