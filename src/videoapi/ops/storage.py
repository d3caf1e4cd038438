"""Disk usage of the local object store: what its files take, and what the filesystem has left."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalUsage:
    root: Path
    objects: int
    """Stored objects (files with a valid key; sidecar and temp files are dot-named and not counted)."""
    size_bytes: int
    """Bytes of every file under the root, sidecars included."""
    disk_total_bytes: int
    disk_free_bytes: int


def store_units(root: Path) -> list[Path]:
    """The second-level directories of the store (one per asset or task, e.g. `assets/<id>`), and top files.

    Walking them one by one gives a progress bar a known length without listing every file first.
    """
    if not root.is_dir():
        return []
    units: list[Path] = []
    for top in sorted(root.iterdir()):
        units += sorted(top.iterdir()) if top.is_dir() and not top.is_symlink() else [top]
    return units


def local_usage(root: Path, units: list[Path] | None = None, on_unit: Callable[[], None] = lambda: None) -> LocalUsage:
    """Walk the store under `root` (symlinks are not followed); `on_unit` is called per entry of
    `units` (default: `store_units(root)`)."""
    objects = size = 0
    for unit in store_units(root) if units is None else units:
        paths = [unit] if not unit.is_dir() else [Path(d) / f for d, _, files in os.walk(unit) for f in files]
        for path in paths:
            try:
                st = path.lstat()
            except FileNotFoundError:  # deleted while we walk (a purge or a finished temp file)
                continue
            size += st.st_size
            objects += not path.name.startswith(".")
        on_unit()
    disk = shutil.disk_usage(root if root.exists() else root.parent)
    return LocalUsage(root, objects, size, disk.total, disk.free)
