"""Routes: POST /v1/video/transcribe -> 202 task, and its /estimate."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import Body

from videoapi.auth.principal import CurrentPrincipal
from videoapi.gateway.service import Item, submit
from videoapi.speech.schemas import TranscribeRequest
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


ROUTES: list[Any] = [transcribe, transcribe_estimate]
