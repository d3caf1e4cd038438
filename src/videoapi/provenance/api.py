"""POST /v1/video/watermark/detect: does this file carry our invisible watermark, and from which task?"""

from __future__ import annotations

from typing import Annotated

from litestar import post
from litestar.datastructures import State
from litestar.params import Body

from videoapi.auth.deps import CurrentPrincipal
from videoapi.provenance.service import DetectOut, DetectRequest, detect_input


@post(
    "/v1/video/watermark/detect",
    status_code=200,
    summary="Detect the invisible watermark",
    tags=["provenance"],
    opt={"scope": "read"},
)
async def detect_watermark(
    data: Annotated[DetectRequest, Body(media_type="application/json")], principal: CurrentPrincipal, state: State
) -> DetectOut:
    return await detect_input(state.services, principal.owner_id, data.input)


ROUTES = [detect_watermark]
