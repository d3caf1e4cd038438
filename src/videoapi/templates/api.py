"""Routes: the caller's templates (create, list, read, replace with a new version, delete) and renders."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, Parameter

from videoapi.auth.principal import CurrentPrincipal
from videoapi.gateway.service import Item, submit
from videoapi.tasks.schemas import TaskOut
from videoapi.templates.schemas import RenderRequest, TemplateIn, TemplateOut, TemplatePage
from videoapi.templates.service import TemplateService

WRITE = {"scope": "edit"}
"""A template is a composite: saving and rendering one needs the edit scope."""


@post("/v1/video/templates", status_code=201, summary="Save a template (version 1)", tags=["templates"], opt=WRITE)
async def create_template(
    data: Annotated[TemplateIn, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    template_service: NamedDependency[TemplateService],
) -> Response[TemplateOut]:
    out = await template_service.create(principal.owner_id, data)
    return Response(out, status_code=201, headers={"Location": f"/v1/video/templates/{out.id}"})


@get("/v1/video/templates", summary="The caller's templates, newest first, cursor-paginated", tags=["templates"])
async def list_templates(
    principal: CurrentPrincipal,
    template_service: NamedDependency[TemplateService],
    cursor: Annotated[str | None, Parameter(max_length=512)] = None,
    limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
) -> TemplatePage:
    return await template_service.list(principal.owner_id, cursor, limit)


@get(
    "/v1/video/templates/{template_id:str}",
    summary="A template: its latest version (or `?version=`) and its versions",
    tags=["templates"],
)
async def get_template(
    template_id: FromPath[str],
    principal: CurrentPrincipal,
    template_service: NamedDependency[TemplateService],
    version: Annotated[int | None, Parameter(ge=1)] = None,
) -> TemplateOut:
    return await template_service.get(principal.owner_id, template_id, version)


@put(
    "/v1/video/templates/{template_id:str}", summary="Replace a template: a new version", tags=["templates"], opt=WRITE
)
async def replace_template(
    template_id: FromPath[str],
    data: Annotated[TemplateIn, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    template_service: NamedDependency[TemplateService],
) -> TemplateOut:
    return await template_service.replace(principal.owner_id, template_id, data)


@delete(
    "/v1/video/templates/{template_id:str}",
    status_code=204,
    summary="Delete a template and its versions",
    tags=["templates"],
    opt=WRITE,
)
async def delete_template(
    template_id: FromPath[str], principal: CurrentPrincipal, template_service: NamedDependency[TemplateService]
) -> None:
    await template_service.delete(principal.owner_id, template_id)


@post(
    "/v1/video/templates/{template_id:str}/render",
    status_code=202,
    summary="Merge values into a template and render it as a composite task",
    tags=["templates"],
    opt=WRITE,
)
async def render_template(
    template_id: FromPath[str],
    data: Annotated[RenderRequest, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    template_service: NamedDependency[TemplateService],
    request: Request,
) -> Response[TaskOut]:
    async def prepare() -> list[Item]:
        return [Item(await template_service.prepare_render(principal, template_id, data))]

    # The composite's own path: Idempotency-Key, caps, load shedding, Prefer: wait, quota.
    return await submit(request, principal, prepare)


ROUTES = [create_template, list_templates, get_template, replace_template, delete_template, render_template]
