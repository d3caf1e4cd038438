"""Routes: one POST per edit kind, each answering 202 with the new task.

No `from __future__ import annotations` here: the route factory's annotations must be evaluated
with each kind's request type when the handler is defined.
"""

from typing import Any

from litestar import Response, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body

from videoapi.auth.deps import CurrentPrincipal
from videoapi.editing.kinds import KINDS, EditKind
from videoapi.editing.service import submit_edit
from videoapi.tasks.schemas import TaskOut, present_task


def _route(spec: EditKind) -> HTTPRouteHandler:
    from typing import Annotated

    async def handler(
        data: Annotated[spec.request_type, Body(media_type="application/json")],  # type: ignore[name-defined]
        principal: CurrentPrincipal,
        state: State,
    ) -> Response[TaskOut]:
        task = await submit_edit(state.services, principal, spec.kind, data)
        body = await present_task(task, state.services.assets.sign)
        return Response(body, status_code=202, headers={"Location": f"/v1/video/tasks/{task.id}"})

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


ROUTES: list[Any] = [_route(spec) for spec in KINDS.values()]
