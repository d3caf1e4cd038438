"""Routes: one POST per edit kind, each answering 202 with the new task."""

from __future__ import annotations

from litestar import Response, post
from litestar.datastructures import State
from litestar.params import JSONBody

from videoapi.auth.deps import CurrentPrincipal, Principal
from videoapi.editing.schemas import TranscodeRequest, TrimRequest
from videoapi.editing.service import submit_edit
from videoapi.tasks.schemas import TaskOut, present_task


async def _accepted(
    state: State, principal: Principal, kind: str, req: TrimRequest | TranscodeRequest
) -> Response[TaskOut]:
    task = await submit_edit(state.services, principal, kind, req)
    body = await present_task(task, state.services.assets.sign)
    return Response(body, status_code=202, headers={"Location": f"/v1/video/tasks/{task.id}"})


@post("/v1/video/edit/trim", status_code=202, summary="Cut [start_s, end_s) out of a video", tags=["edit"])
async def trim(data: JSONBody[TrimRequest], principal: CurrentPrincipal, state: State) -> Response[TaskOut]:
    return await _accepted(state, principal, "edit.trim", data)


@post(
    "/v1/video/edit/transcode", status_code=202, summary="Resize, change fps, re-encode to MP4 or WebM", tags=["edit"]
)
async def transcode(data: JSONBody[TranscodeRequest], principal: CurrentPrincipal, state: State) -> Response[TaskOut]:
    return await _accepted(state, principal, "edit.transcode", data)


ROUTES = [trim, transcode]
