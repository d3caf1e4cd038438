"""Routes: POST /v1/video/transcribe and /v1/video/edit/captions -> 202 task, and their /estimate."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import Body

from videoapi.auth.principal import CurrentPrincipal
from videoapi.gateway.service import Item, submit
from videoapi.speech.captions import CAPTIONS
from videoapi.speech.schemas import CaptionsRequest, TranscribeRequest
from videoapi.speech.service import SpeechService
from videoapi.tasks.schemas import EstimateOut, TaskOut


@post(
    "/v1/video/transcribe",
    status_code=202,
    tags=["speech"],
    summary="Transcribe speech into text with word timings, as SRT, WebVTT and JSON",
    description=(TranscribeRequest.__doc__ or "").strip(),
    opt={"scope": "edit"},
)
async def transcribe(
    data: Annotated[TranscribeRequest, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    speech: NamedDependency[SpeechService],
    request: Request,
) -> Response[TaskOut]:
    async def prepare() -> list[Item]:
        return [Item(await speech.prepare(principal, data))]

    # Idempotency-Key, per-key caps, load shedding and Prefer: wait, as for every create.
    return await submit(request, principal, prepare)


@post(
    "/v1/video/transcribe/estimate",
    status_code=200,
    tags=["speech"],
    summary="Validate a transcribe request and estimate its cost and ETA, creating nothing",
    opt={"scope": "edit"},
)
async def transcribe_estimate(
    data: Annotated[TranscribeRequest, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    speech: NamedDependency[SpeechService],
) -> EstimateOut:
    return await speech.estimate(principal, data)


@post(
    "/v1/video/edit/captions",
    status_code=202,
    tags=["edit"],
    summary=CAPTIONS.summary,
    description=(CaptionsRequest.__doc__ or "").strip(),
    operation_id="edit_captions",
    opt={"scope": "edit"},
)
async def captions(
    data: Annotated[CaptionsRequest, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    speech: NamedDependency[SpeechService],
    request: Request,
) -> Response[TaskOut]:
    async def prepare() -> list[Item]:
        return [Item(await speech.prepare_captions(principal, data))]

    return await submit(request, principal, prepare)


@post(
    "/v1/video/edit/captions/estimate",
    status_code=200,
    tags=["edit"],
    summary="Validate a captions request and estimate its cost and ETA, creating nothing",
    operation_id="edit_captions_estimate",
    opt={"scope": "edit"},
)
async def captions_estimate(
    data: Annotated[CaptionsRequest, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    speech: NamedDependency[SpeechService],
) -> EstimateOut:
    return await speech.estimate_captions(principal, data)


ROUTES: list[Any] = [transcribe, transcribe_estimate, captions, captions_estimate]
