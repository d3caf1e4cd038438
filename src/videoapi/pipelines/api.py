"""Routes: create a pipeline of steps, read and list the caller's pipelines, cancel and retry one."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, Parameter

from videoapi.auth.principal import CurrentPrincipal
from videoapi.gateway.scopes import WRITE
from videoapi.gateway.service import PipelineSubmission, submit_pipeline
from videoapi.pipelines.schemas import PipelineIn
from videoapi.pipelines.service import PipelineService
from videoapi.tasks.pipelines import PipelineOut, PipelinePage, present_pipeline
from videoapi.tasks.schemas import Signer
from videoapi.tasks.service import TaskService

SCOPE = {"scope": WRITE}
"""Either scope opens the route; each step needs its own kind's scope (checked by the service)."""


@post(
    "/v1/video/pipelines",
    status_code=202,
    summary="Run steps of any task kind as a graph, each reading earlier steps' outputs",
    tags=["pipelines"],
    opt=SCOPE,
)
async def create_pipeline(
    data: Annotated[PipelineIn, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    pipeline_service: NamedDependency[PipelineService],
    request: Request,
) -> Response[PipelineOut]:
    async def prepare() -> PipelineSubmission:
        return await pipeline_service.prepare(principal, data)

    return await submit_pipeline(request, principal, prepare)


@get(
    "/v1/video/pipelines/{pipeline_id:str}",
    summary="A pipeline: its status and each step's status, progress and result",
    tags=["pipelines"],
)
async def get_pipeline(
    pipeline_id: FromPath[str],
    principal: CurrentPrincipal,
    task_service: NamedDependency[TaskService],
    sign: NamedDependency[Signer],
) -> PipelineOut:
    pipeline, steps = await task_service.get_pipeline(pipeline_id, principal.owner_id)
    return await present_pipeline(pipeline, steps, sign)


@get("/v1/video/pipelines", summary="The caller's pipelines, newest first, cursor-paginated", tags=["pipelines"])
async def list_pipelines(
    principal: CurrentPrincipal,
    task_service: NamedDependency[TaskService],
    sign: NamedDependency[Signer],
    cursor: Annotated[str | None, Parameter(max_length=512)] = None,
    limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
) -> PipelinePage:
    rows, next_cursor = await task_service.list_pipelines(principal.owner_id, cursor, limit)
    return PipelinePage([await present_pipeline(p, steps, sign) for p, steps in rows], next_cursor)


async def _cancel(pipeline_id: str, owner_id: str, tasks: TaskService, sign: Signer) -> PipelineOut:
    await tasks.cancel_pipeline(pipeline_id, owner_id)
    pipeline, steps = await tasks.get_pipeline(pipeline_id, owner_id)
    return await present_pipeline(pipeline, steps, sign)


@post(
    "/v1/video/pipelines/{pipeline_id:str}/cancel",
    status_code=202,
    summary="Cancel every step: waiting and queued ones at once, running ones within seconds",
    tags=["pipelines"],
)
async def cancel_pipeline(
    pipeline_id: FromPath[str],
    principal: CurrentPrincipal,
    task_service: NamedDependency[TaskService],
    sign: NamedDependency[Signer],
) -> PipelineOut:
    return await _cancel(pipeline_id, principal.owner_id, task_service, sign)


@delete(
    "/v1/video/pipelines/{pipeline_id:str}",
    status_code=202,
    summary="Cancel a pipeline (as POST .../cancel)",
    tags=["pipelines"],
)
async def delete_pipeline(
    pipeline_id: FromPath[str],
    principal: CurrentPrincipal,
    task_service: NamedDependency[TaskService],
    sign: NamedDependency[Signer],
) -> PipelineOut:
    return await _cancel(pipeline_id, principal.owner_id, task_service, sign)


@post(
    "/v1/video/pipelines/{pipeline_id:str}/retry",
    status_code=202,
    summary="Run a failed or canceled pipeline's failed and canceled steps again, and their dependents",
    tags=["pipelines"],
)
async def retry_pipeline(
    pipeline_id: FromPath[str],
    principal: CurrentPrincipal,
    pipeline_service: NamedDependency[PipelineService],
    sign: NamedDependency[Signer],
) -> PipelineOut:
    # What the retry committed: a worker may already have run (and, here, failed) the queued steps.
    retried = await pipeline_service.retry(principal.owner_id, pipeline_id)
    return await present_pipeline(retried.pipeline, retried.steps, sign)


ROUTES = [create_pipeline, list_pipelines, get_pipeline, cancel_pipeline, delete_pipeline, retry_pipeline]
