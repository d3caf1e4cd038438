"""The layers: docs/architecture.md draws the diagram the import contracts enforce, and the package
has no import cycle, counting every import (deferred and TYPE_CHECKING ones too)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from scripts.import_cycles import components, module_graph

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


def test_no_module_takes_part_in_an_import_cycle() -> None:
    assert components(module_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert components({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


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
