"""Routes: one POST per edit kind, each answering 202 with the new task.

No `from __future__ import annotations` here: the route factory's annotations must be evaluated
with each kind's request type when the handler is defined.
"""

from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body

from videoapi.auth.deps import CurrentPrincipal
from videoapi.editing.kinds import KINDS, EditKind
from videoapi.editing.service import EstimateOut, estimate_edit, prepare_edit
from videoapi.gateway.service import Item, submit
from videoapi.tasks.schemas import TaskOut


def _route(spec: EditKind) -> HTTPRouteHandler:
    from typing import Annotated

    async def handler(
        data: Annotated[spec.request_type, Body(media_type="application/json")],  # type: ignore[name-defined]
        principal: CurrentPrincipal,
        state: State,
        request: Request,
    ) -> Response[TaskOut]:
        async def prepare() -> list[Item]:
            return [Item(await prepare_edit(state.services, principal, spec.kind, data))]

        # Idempotency-Key, per-key caps, load shedding and Prefer: wait (see gateway.service).
        return await submit(request, principal, state.services, prepare)

    handler.__name__ = spec.kind.replace(".", "_")
    handler.__qualname__ = handler.__name__
    return post(
        f"/v1/video/edit/{spec.path}",
        status_code=202,
        summary=spec.summary,
        description=(spec.request_type.__doc__ or "").strip() or None,
        tags=["edit"],
        operation_id=handler.__name__,
    )(handler)


def _estimate_route(spec: EditKind) -> HTTPRouteHandler:
    from typing import Annotated

    async def handler(
        data: Annotated[spec.request_type, Body(media_type="application/json")],  # type: ignore[name-defined]
        principal: CurrentPrincipal,
        state: State,
    ) -> EstimateOut:
        return await estimate_edit(state.services, principal, spec.kind, data)

    handler.__name__ = spec.kind.replace(".", "_") + "_estimate"
    handler.__qualname__ = handler.__name__
    return post(
        f"/v1/video/edit/{spec.path}/estimate",
        status_code=200,
        summary=f"Validate a {spec.path} request and estimate its cost and ETA, creating nothing",
        tags=["edit"],
        operation_id=handler.__name__,
        opt={"scope": "edit"},
    )(handler)


ROUTES: list[Any] = [_route(spec) for spec in KINDS.values()] + [_estimate_route(spec) for spec in KINDS.values()]
