"""The `principal` dependency: every /v1 handler that takes it requires `Authorization: Bearer <key>`."""

from __future__ import annotations

from typing import TypeAlias

import msgspec
import structlog
from litestar import Request
from litestar.di import NamedDependency

from videoapi.errors import Unauthorized


class Principal(msgspec.Struct, frozen=True):
    owner_id: str
    key_name: str


CurrentPrincipal: TypeAlias = NamedDependency[Principal]
"""Annotation for handler parameters named `principal`: the authenticated caller."""


async def provide_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "send `Authorization: Bearer <api key>`", code="missing_credentials", headers={"WWW-Authenticate": "Bearer"}
        )
    key = await request.app.state.services.keys.authenticate(token.strip())
    structlog.contextvars.bind_contextvars(owner=key.id)
    return Principal(owner_id=key.id, key_name=key.name)
