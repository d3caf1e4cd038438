"""The layers: docs/architecture.md draws the diagram the import contracts enforce, and the package
has no import cycle, counting every import (deferred and TYPE_CHECKING ones too)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def contract_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return [" | ".join(part.strip() for part in layer.split("|")) for layer in layers]


def documented_layers() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    diagram = re.search(r"## Layers.*?```\n(.*?)```", text, re.S)
    assert diagram, "docs/architecture.md has no layer diagram under '## Layers'"
    rows = []
    for line in diagram.group(1).splitlines():
        if line and not line.startswith(" "):
            rows.append(re.split(r"\s{2,}", line.strip())[0])
    return rows


def test_the_documented_layers_are_the_enforced_ones() -> None:
    assert documented_layers() == contract_layers()


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative: the components of more than one module are the cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def test_no_module_takes_part_in_an_import_cycle() -> None:
    graph = grimp.build_graph("videoapi", cache_dir=None)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    cycles = [sorted(c) for c in strongly_connected(edges)]
    assert cycles == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


# Test folders that test no single package: shared helpers, and the deployment files at the root.
NOT_PACKAGES = {"support", "deploy", "sdk"}  # sdk: the client packages under sdk/, not src


def test_the_test_folders_mirror_the_packages() -> None:
    packages = {p.name for p in (ROOT / "src" / "videoapi").iterdir() if (p / "__init__.py").exists()}
    folders = {
        p.name
        for p in (ROOT / "tests").iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and p.name not in NOT_PACKAGES
    }
    assert folders <= packages, f"test folders without a package in src/videoapi: {folders - packages}"
