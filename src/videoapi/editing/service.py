"""Edit submissions: validate against the probed input up front, then create the task."""

from __future__ import annotations

from pathlib import Path

import msgspec

from videoapi.auth.deps import Principal
from videoapi.editing.plan import check_range, plan_transcode, plan_trim
from videoapi.editing.schemas import TranscodeRequest, TrimRequest
from videoapi.services import Services
from videoapi.tasks.models import Task
from videoapi.tasks.states import PRIORITIES

# kind -> (request type, planner); the planner runs at submission on the probe to refuse bad
# requests with a 422 instead of a failed task, and again in the worker on the real file.
EDIT_KINDS = {
    "edit.trim": (TrimRequest, plan_trim),
    "edit.transcode": (TranscodeRequest, plan_transcode),
}
QUEUE = "cpu"


async def submit_edit(services: Services, principal: Principal, kind: str, req: TrimRequest | TranscodeRequest) -> Task:
    _, planner = EDIT_KINDS[kind]
    media = await services.assets.check_input(principal.owner_id, req.input)
    if media is not None:
        planner(req, media, Path("input"), Path("output"))  # type: ignore[arg-type]
    elif isinstance(req, TrimRequest):
        check_range(req.start_s, req.end_s, None)  # the URL is fetched and probed by the worker
    params = msgspec.to_builtins(req)
    params.pop("webhook_url", None)
    params.pop("priority", None)
    return await services.tasks.create(
        owner_id=principal.owner_id,
        kind=kind,
        queue=QUEUE,
        params=params,
        priority=PRIORITIES[req.priority],
        webhook_url=req.webhook_url,
    )
