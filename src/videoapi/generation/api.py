"""Routes: POST /v1/video/generate/{text-to-video,image-to-video,style-transfer} -> 202 task; GET /v1/video/models."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import Body

from videoapi.auth.deps import CurrentPrincipal
from videoapi.editing.service import EstimateOut
from videoapi.gateway.service import Item, submit
from videoapi.generation.schemas import ImageToVideoRequest, ModelList, StyleTransferRequest, TextToVideoRequest
from videoapi.generation.service import list_models, prepare_generation
from videoapi.tasks.eta import queue_eta
from videoapi.tasks.schemas import TaskOut


async def _accepted(
    request: Request, state: State, principal: CurrentPrincipal, kind: str, data: object
) -> Response[TaskOut]:
    async def prepare() -> list[Item]:
        return [Item(await prepare_generation(state.services, principal, kind, data))]

    # Idempotency-Key, per-key caps, load shedding and Prefer: wait, as for every create.
    return await submit(request, principal, state.services, prepare)


@post("/v1/video/generate/text-to-video", status_code=202, tags=["generate"], summary="Generate a video from text")
async def text_to_video(
    data: Annotated[TextToVideoRequest, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    state: State,
    request: Request,
) -> Response[TaskOut]:
    return await _accepted(request, state, principal, "text-to-video", data)


@post("/v1/video/generate/image-to-video", status_code=202, tags=["generate"], summary="Animate an image")
async def image_to_video(
    data: Annotated[ImageToVideoRequest, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    state: State,
    request: Request,
) -> Response[TaskOut]:
    return await _accepted(request, state, principal, "image-to-video", data)


@post(
    "/v1/video/generate/style-transfer",
    status_code=202,
    tags=["generate"],
    summary="Restyle a video (classical filter on the CPU, or a diffusion model)",
)
async def style_transfer(
    data: Annotated[StyleTransferRequest, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    state: State,
    request: Request,
) -> Response[TaskOut]:
    return await _accepted(request, state, principal, "style-transfer", data)


async def _estimate(state: State, principal: CurrentPrincipal, kind: str, data: object) -> EstimateOut:
    prepared = await prepare_generation(state.services, principal, kind, data)
    eta = await queue_eta(state.services.sessions, prepared["queue"], prepared["kind"], prepared["priority"])
    solo = (prepared.get("batch_key") or "").startswith("solo:")  # a URL video: its length is not known yet
    return EstimateOut(
        kind=prepared["kind"],
        valid=True,
        output_seconds=None if solo else prepared["params"].get("duration_s"),
        estimate_credits=prepared["estimate_credits"],
        queue=prepared["queue"],
        tasks_ahead=eta.ahead,
        eta_s=eta.eta_s,
    )


_ESTIMATE = {"status_code": 200, "tags": ["generate"], "opt": {"scope": "generate"}}


@post("/v1/video/generate/text-to-video/estimate", summary="Cost and ETA of a text-to-video request", **_ESTIMATE)
async def estimate_text_to_video(
    data: Annotated[TextToVideoRequest, Body(media_type="application/json")], principal: CurrentPrincipal, state: State
) -> EstimateOut:
    return await _estimate(state, principal, "text-to-video", data)


@post("/v1/video/generate/image-to-video/estimate", summary="Cost and ETA of an image-to-video request", **_ESTIMATE)
async def estimate_image_to_video(
    data: Annotated[ImageToVideoRequest, Body(media_type="application/json")], principal: CurrentPrincipal, state: State
) -> EstimateOut:
    return await _estimate(state, principal, "image-to-video", data)


@post("/v1/video/generate/style-transfer/estimate", summary="Cost and ETA of a style-transfer request", **_ESTIMATE)
async def estimate_style_transfer(
    data: Annotated[StyleTransferRequest, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    state: State,
) -> EstimateOut:
    return await _estimate(state, principal, "style-transfer", data)


@get("/v1/video/models", tags=["generate"], summary="Generation models, their limits, styles and whether installed")
async def models(principal: CurrentPrincipal, state: State) -> ModelList:
    return list_models(state.services.settings)


ROUTES = [
    text_to_video,
    image_to_video,
    style_transfer,
    estimate_text_to_video,
    estimate_image_to_video,
    estimate_style_transfer,
    models,
]
