"""Edit submissions: validate against the probed inputs up front, then create the task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from videoapi.auth.deps import Principal
from videoapi.editing.kinds import KINDS, Source
from videoapi.errors import InvalidRequest
from videoapi.services import Services
from videoapi.tasks.models import Task
from videoapi.tasks.states import PRIORITIES

QUEUE = "cpu"


async def prepare_edit(services: Services, principal: Principal, kind: str, req: Any) -> dict[str, Any]:
    """Validate `req` and return the keyword arguments of `TaskService.create` for it.

    The planner runs here on the inputs' probes so that a request that cannot work is a 422 now,
    not a failed task later; it runs again in the worker on the real files. Inputs given as URLs
    are probed by the worker, so for them only the checks that need no probe run here.
    """
    spec = KINDS[kind]
    settings = services.settings
    refs = spec.inputs(req)
    if len(refs) > settings.editing.max_inputs:
        raise InvalidRequest(
            f"the request names {len(refs)} inputs; the limit is {settings.editing.max_inputs}",
            code="limit_exceeded",
            errors=[{"field": "editing.max_inputs", "message": f"at most {settings.editing.max_inputs} inputs"}],
        )
    medias = [await services.assets.check_input(principal.owner_id, ref) for ref in refs]
    time_limit = None
    if all(m is not None for m in medias):
        sources = [Source(Path(f"input{i}"), m) for i, m in enumerate(medias) if m is not None]
        plan = spec.plan(req, sources, Path("output"), settings)
        time_limit = settings.time_limit_for(kind) + settings.editing.time_limit_per_output_s * plan.duration_s
    elif spec.check is not None:
        spec.check(req, settings)
    params = msgspec.to_builtins(req)
    params.pop("webhook_url", None)
    params.pop("priority", None)
    return {
        "owner_id": principal.owner_id,
        "kind": kind,
        "queue": QUEUE,
        "params": params,
        "priority": PRIORITIES[req.priority],
        "webhook_url": req.webhook_url,
        "time_limit_s": time_limit,
    }


async def submit_edit(services: Services, principal: Principal, kind: str, req: Any) -> Task:
    return await services.tasks.create(**await prepare_edit(services, principal, kind, req))
