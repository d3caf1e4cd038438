"""Routes: POST /v1/video/generate/<kind> -> 202 task, and its /estimate, for every kind of the table;
GET /v1/video/models.

No `from __future__ import annotations` here: the route factory's annotations must be evaluated
with each kind's request type when the handler is defined.
"""

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body

from videoapi.auth.principal import CurrentPrincipal
from videoapi.gateway.service import Item, submit
from videoapi.generation.kinds import KINDS, GenerationKind
from videoapi.generation.schemas import ModelList
from videoapi.generation.service import GenerationService, list_models
from videoapi.settings import Settings
from videoapi.tasks.schemas import EstimateOut, TaskOut


def _route(spec: GenerationKind) -> HTTPRouteHandler:
    async def handler(
        data: Annotated[spec.request_type, Body(media_type="application/json")],  # type: ignore[name-defined]
        principal: CurrentPrincipal,
        generations: NamedDependency[GenerationService],
        request: Request,
    ) -> Response[TaskOut]:
        async def prepare() -> list[Item]:
            return [Item(await generations.prepare(principal, spec.path, data))]

        # Idempotency-Key, per-key caps, load shedding and Prefer: wait, as for every create.
        return await submit(request, principal, prepare)

    handler.__name__ = spec.path.replace("-", "_")
    handler.__qualname__ = handler.__name__
    return post(f"/v1/video/generate/{spec.path}", status_code=202, tags=["generate"], summary=spec.summary)(handler)


def _estimate_route(spec: GenerationKind) -> HTTPRouteHandler:
    async def handler(
        data: Annotated[spec.request_type, Body(media_type="application/json")],  # type: ignore[name-defined]
        principal: CurrentPrincipal,
        generations: NamedDependency[GenerationService],
    ) -> EstimateOut:
        return await generations.estimate(principal, spec.path, data)

    handler.__name__ = "estimate_" + spec.path.replace("-", "_")
    handler.__qualname__ = handler.__name__
    return post(
        f"/v1/video/generate/{spec.path}/estimate",
        status_code=200,
        tags=["generate"],
        summary=f"Cost and ETA of a {spec.path} request",
        opt={"scope": "generate"},
    )(handler)


@get("/v1/video/models", tags=["generate"], summary="Generation models, their limits, styles and whether installed")
async def models(principal: CurrentPrincipal, settings: NamedDependency[Settings]) -> ModelList:
    return list_models(settings)


ROUTES: list[Any] = [
    *(_route(spec) for spec in KINDS.values()),
    *(_estimate_route(spec) for spec in KINDS.values()),
    models,
]
