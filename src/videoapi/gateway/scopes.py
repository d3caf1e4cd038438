"""Which scope a route needs: declared on the route (`opt={"scope": ...}`), else derived from its path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

WRITE = ("edit", "generate")
"""Changes that serve both editing and generation (uploads, cancel, redeliver) need either scope."""


def required_scopes(method: str, path: str, opt: Mapping[str, Any]) -> tuple[str, ...]:
    """The scopes of which the caller needs one; `admin` always passes."""
    declared = opt.get("scope")
    if declared:
        return (declared,) if isinstance(declared, str) else tuple(declared)
    for family in ("edit", "generate"):
        if path.startswith((f"/v1/video/{family}/", f"/v1/video/batch/{family}")):
            return (family,)
    if method in ("GET", "HEAD", "OPTIONS"):
        return ("read",)
    return WRITE


def has_scope(granted: frozenset[str], needed: tuple[str, ...]) -> bool:
    return "admin" in granted or any(s in granted for s in needed)
