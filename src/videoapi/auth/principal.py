"""Who is calling: the identity every /v1 handler and every service that acts for a caller receives."""

from __future__ import annotations

from typing import TypeAlias

import msgspec
from litestar.di import NamedDependency

from videoapi.auth.models import SCOPES


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    owner_id: str
    key_name: str
    key_id: str | None = None
    """The API key's id; None for a JWT subject."""
    scopes: frozenset[str] = frozenset(SCOPES)
    rate_per_s: float | None = None
    """None: gateway.default_rate_per_s."""
    burst: int | None = None
    """None: gateway.default_burst."""
    max_priority: str = "normal"
    """The highest priority it may ask for; keys default to gateway.default_max_priority."""
    max_active_tasks: int | None = None
    """None: gateway.default_max_active_tasks."""

    @property
    def bucket(self) -> str:
        return self.key_id or self.owner_id  # a JWT owner id starts with `jwt`, never a key id


CurrentPrincipal: TypeAlias = NamedDependency[Principal]
"""Annotation for handler parameters named `principal`: the authenticated caller."""
