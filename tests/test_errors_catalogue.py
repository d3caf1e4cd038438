"""The error catalogue: every code the source can send is listed once in `errors.CATALOGUE` with the
status it is sent with, nothing listed is unused, and docs/errors.md is the table rendered."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

from videoapi.errors import CATALOGUE, render_catalogue

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "videoapi"

# Helpers that build an InvalidRequest from a positional code: (name, index of the code argument).
POSITIONAL_CODE = {"_fail": 1, "problem": 3}
ALWAYS_422 = {"_fail", "_invalid"}


def _str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def class_statuses(trees: list[ast.Module]) -> dict[str, int]:
    """Each exception class's `status`, inherited through base classes named in the source."""
    own: dict[str, int | None] = {}
    bases: dict[str, list[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [b.id for b in node.bases if isinstance(b, ast.Name)]
                own[node.name] = next(
                    (
                        s.value.value
                        for s in node.body
                        if isinstance(s, ast.Assign)
                        and any(getattr(t, "id", None) == "status" for t in s.targets)
                        and isinstance(s.value, ast.Constant)
                    ),
                    None,
                )

    def resolve(name: str, seen: frozenset[str] = frozenset()) -> int | None:
        if own.get(name) is not None:
            return own[name]
        for base in bases.get(name, []):
            if base not in seen and (found := resolve(base, seen | {name})) is not None:
                return found
        return None

    return {name: status for name in own if (status := resolve(name)) is not None}


def codes_in(tree: ast.Module, statuses: dict[str, int]) -> Iterator[tuple[str, int | None, int]]:
    """(code, status it is sent with when known, line) for every code literal in a module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _name(node)
            keywords = {kw.arg: kw.value for kw in node.keywords}
            explicit = keywords.get("status")
            status = explicit.value if isinstance(explicit, ast.Constant) else statuses.get(name)
            if name in ALWAYS_422:
                status = 422
            for arg in ("code", "error_code"):
                if code := _str(keywords.get(arg)):
                    yield code, status if arg == "code" else None, node.lineno
            index = POSITIONAL_CODE.get(name)
            if index is not None and len(node.args) > index and (code := _str(node.args[index])):
                first = node.args[0]
                sent = first.value if name == "problem" and isinstance(first, ast.Constant) else 422
                yield code, sent if name != "problem" or isinstance(first, ast.Constant) else None, node.lineno
            # `{404: "not_found", ...}.get(status, "http_error")`: a status -> code table and its default.
            receiver = getattr(node.func, "value", None)
            statuses_map = isinstance(receiver, ast.Dict) and all(
                isinstance(k, ast.Constant) and isinstance(k.value, int) for k in receiver.keys
            )
            if name == "get" and statuses_map and len(node.args) == 2:
                for key, value in zip(receiver.keys, receiver.values, strict=True):  # type: ignore[union-attr]
                    if isinstance(key, ast.Constant) and (code := _str(value)):
                        yield code, key.value, node.lineno
                if code := _str(node.args[1]):
                    yield code, None, node.lineno
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                targets = [getattr(t, "id", None) for t in stmt.targets] if isinstance(stmt, ast.Assign) else []
                if "code" in targets and (code := _str(stmt.value)):  # type: ignore[union-attr]
                    yield code, statuses.get(node.name), stmt.lineno
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if _str(key) == "code" and (code := _str(value)):
                    yield code, None, node.lineno


@functools.cache
def used_codes() -> dict[str, list[tuple[int | None, str]]]:
    files = sorted(SRC.rglob("*.py"))
    trees = [ast.parse(f.read_text(), str(f)) for f in files]
    statuses = class_statuses(trees)
    found: dict[str, list[tuple[int | None, str]]] = {}
    for file, tree in zip(files, trees, strict=True):
        for code, status, line in codes_in(tree, statuses):
            found.setdefault(code, []).append((status, f"{file.relative_to(ROOT)}:{line}"))
    return found


def test_every_code_in_the_source_is_catalogued() -> None:
    listed = {entry.code for entry in CATALOGUE}
    missing = {code: sites[0][1] for code, sites in used_codes().items() if code not in listed}
    assert not missing, f"codes missing from errors.CATALOGUE: {missing}"


def test_every_catalogued_code_is_used() -> None:
    unused = {entry.code for entry in CATALOGUE} - set(used_codes())
    assert not unused, f"errors.CATALOGUE lists codes nothing sends: {sorted(unused)}"


def test_each_code_is_sent_with_its_catalogued_status() -> None:
    listed = {entry.code: entry.status for entry in CATALOGUE}
    wrong = [
        f"{site}: {code} sent as {status}, catalogued as {listed[code]}"
        for code, sites in used_codes().items()
        for status, site in sites
        if code in listed and status is not None and status != listed[code]
    ]
    assert not wrong, "\n".join(wrong)


def test_the_catalogue_lists_each_code_once_in_order() -> None:
    codes = [entry.code for entry in CATALOGUE]
    assert codes == sorted(set(codes))


def test_docs_errors_md_is_the_rendered_catalogue() -> None:
    page = ROOT / "docs" / "errors.md"
    assert page.read_text() == render_catalogue(), "run `python scripts/gen_errors_docs.py`"


def test_the_scanner_finds_codes_in_each_form() -> None:
    source = """
class Boom(Base):
    status = 409
    code = "boom"
def f():
    raise Base("x", code="kw_code")
    _fail("x", "positional_code", "field")
    return {"code": "dict_code"}
"""
    found = {(c, s) for c, s, _ in codes_in(ast.parse(source), {"Boom": 409, "Base": 400})}
    assert found == {("boom", 409), ("kw_code", 400), ("positional_code", 422), ("dict_code", None)}
