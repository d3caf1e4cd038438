"""Routes: one POST per edit kind, each answering 202 with the new task.

No `from __future__ import annotations` here: the route factory's annotations must be evaluated
with each kind's request type when the handler is defined.
"""

from typing import Any

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body

from videoapi.auth.principal import CurrentPrincipal
from videoapi.editing.kinds import KINDS, EditKind
from videoapi.editing.service import EditingService
from videoapi.gateway.service import Item, submit
from videoapi.tasks.schemas import EstimateOut, TaskOut


def _route(spec: EditKind) -> HTTPRouteHandler:
    from typing import Annotated

    async def handler(
        data: Annotated[spec.request_type, Body(media_type="application/json")],  # type: ignore[name-defined]
        principal: CurrentPrincipal,
        edits: NamedDependency[EditingService],
        request: Request,
    ) -> Response[TaskOut]:
        async def prepare() -> list[Item]:
            return [Item(await edits.prepare(principal, spec.kind, data))]

        # Idempotency-Key, per-key caps, load shedding and Prefer: wait (see gateway.service).
        return await submit(request, principal, prepare)

    handler.__name__ = spec.kind.replace(".", "_")
    handler.__qualname__ = handler.__name__
    return post(
        f"/v1/video/{spec.group}/{spec.path}",
        status_code=202,
        summary=spec.summary,
        description=(spec.request_type.__doc__ or "").strip() or None,
        tags=[spec.group],
        operation_id=handler.__name__,
        opt={"scope": "edit"},
    )(handler)


def _estimate_route(spec: EditKind) -> HTTPRouteHandler:
    from typing import Annotated

    async def handler(
        data: Annotated[spec.request_type, Body(media_type="application/json")],  # type: ignore[name-defined]
        principal: CurrentPrincipal,
        edits: NamedDependency[EditingService],
    ) -> EstimateOut:
        return await edits.estimate(principal, spec.kind, data)

    handler.__name__ = spec.kind.replace(".", "_") + "_estimate"
    handler.__qualname__ = handler.__name__
    return post(
        f"/v1/video/{spec.group}/{spec.path}/estimate",
        status_code=200,
        summary=f"Validate a {spec.path} request and estimate its cost and ETA, creating nothing",
        tags=[spec.group],
        operation_id=handler.__name__,
        opt={"scope": "edit"},
    )(handler)


ROUTES: list[Any] = [_route(spec) for spec in KINDS.values()] + [_estimate_route(spec) for spec in KINDS.values()]
